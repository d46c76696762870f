#!/usr/bin/env bash
# An MLflow tracking server for vec2vec runs: `vec2vec train/tune --tracking-uri http://HOST:PORT`.
#
# Binds 127.0.0.1 by default: MLflow's server has no authentication, so reach it through an SSH tunnel
# (ssh -L 5000:127.0.0.1:5000 host) or put an authenticating proxy in front before setting MLFLOW_HOST=0.0.0.0.
# Artifacts are proxied by the server (--artifacts-destination): clients and Ray workers need no shared disk.
#
#   MLFLOW_HOST                   bind address               (default 127.0.0.1)
#   MLFLOW_PORT                   port                       (default 5000)
#   MLFLOW_SERVER_DIR             where the defaults below live (default ./mlflow-server)
#   MLFLOW_BACKEND_STORE_URI      runs and metrics: SQLite by default; Postgres e.g.
#                                 postgresql://mlflow:PASSWORD@db-host:5432/mlflow (needs `pip install psycopg2-binary`)
#   MLFLOW_ARTIFACTS_DESTINATION  artifact root: a directory, or s3://bucket/prefix, gs://... (default <dir>/artifacts)
#   MLFLOW_WORKERS                server worker processes    (default 1: about 0.7 GB each)
#   MLFLOW                        the mlflow executable      (default: mlflow on PATH, e.g. .venv/bin/mlflow)
set -euo pipefail

dir="$(realpath -m "${MLFLOW_SERVER_DIR:-mlflow-server}")"
mkdir -p "$dir"
backend="${MLFLOW_BACKEND_STORE_URI:-sqlite:///$dir/mlflow.db}"
artifacts="${MLFLOW_ARTIFACTS_DESTINATION:-$dir/artifacts}"
host="${MLFLOW_HOST:-127.0.0.1}"
port="${MLFLOW_PORT:-5000}"

echo "mlflow server: http://$host:$port  backend $backend  artifacts $artifacts" >&2
exec "${MLFLOW:-mlflow}" server \
    --backend-store-uri "$backend" \
    --artifacts-destination "$artifacts" \
    --host "$host" --port "$port" \
    --workers "${MLFLOW_WORKERS:-1}"
