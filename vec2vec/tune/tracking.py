"""MLflow tracking of train and tune runs: the one place that picks the store and writes a run's record.

Default store: `sqlite:///<cwd>/mlflow.db`, embedded (nothing to start), artifacts in `<cwd>/mlartifacts`.
`--tracking-uri` or MLFLOW_TRACKING_URI points at a server instead (`infra/mlflow-server.sh`), which stores the
artifacts itself. A run records params, per-report metrics (losses and the label-free score, by step), the final
label-free score, paired eval metrics (recorded, never used to choose), a loss plot, the translator directory,
and the translator as a pyfunc model (`pyfunc_model.py`, logged as code: nothing pickled).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vec2vec import __version__
from vec2vec.runtime import configure_env
from vec2vec.universal.aligner import Aligner
from vec2vec.universal.data import DataError, eval_pairs
from vec2vec.universal.evaluate import EvalRow, evaluate

from .loop import METRIC, pair_metric

EXPERIMENT = "vec2vec"
PYFUNC_NAME = "pyfunc-translator"  # not "translator": a run path of that name would resolve to the model
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
EVAL_METRICS = ("top1", "top5", "mean_rank", "foscttm", "csls_top1", "mean_cos")


def tracking_uri(uri: str | None = None) -> str:
    """`uri`, else MLFLOW_TRACKING_URI, else the SQLite store in the working directory (an absolute path:
    Ray trials and workers run in other directories)."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd().resolve() / 'mlflow.db'}"


def use_store(uri: str | None = None, experiment: str = EXPERIMENT) -> tuple[Any, str]:
    """A client of the store and the id of `experiment` there (created once).

    Everything goes through this client, never MLflow's process-wide URI: `mlflow.set_tracking_uri` also
    exports MLFLOW_TRACKING_URI, which would silently redirect every later run of this process.
    """
    configure_env()
    import mlflow

    uri = tracking_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        return client, found.experiment_id
    location = None  # a server picks its own artifact root
    if uri.startswith("sqlite:///"):  # else MLflow puts artifacts in ./mlruns of whatever the CWD is then
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts" / experiment).as_uri()
    return client, client.create_experiment(experiment, artifact_location=location)


def ui_hint(uri: str) -> str:
    """How to look at the runs."""
    if uri.startswith(("http://", "https://")):
        return f"MLflow UI: open {uri}"
    return f"MLflow UI: mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000  (then open http://127.0.0.1:5000)"


def flat_params(prefix: str, obj: Any) -> dict[str, str]:
    """Dataclasses and dicts as dotted MLflow params (values as strings, cut to MLflow's 6000-char limit)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        out: dict[str, str] = {}
        for key, value in obj.items():
            out |= flat_params(f"{prefix}.{key}" if prefix else str(key), value)
        return out
    return {prefix: str(obj)[:6000]}


def create_run(name: str, uri: str | None = None, tags: Mapping[str, str] | None = None) -> str:
    """A new run in the store (a Tune search logs its trials under it); its id."""
    client, experiment = use_store(uri)
    return str(client.create_run(experiment, run_name=name, tags=dict(tags or {})).info.run_id)


def _loss_plot(history: Sequence[Mapping[str, float]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    keys = [k for k in history[0] if k not in ("step", "anchor_weight")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    steps = [row["step"] for row in history]
    for key in keys:
        ax = axes[1] if key == METRIC else axes[0]
        ax.plot(steps, [row.get(key, float("nan")) for row in history], label=key)
    axes[0].set(xlabel="step", ylabel="loss", yscale="log", title="training losses")
    axes[1].set(xlabel="step", ylabel="kNN mixing", title="label-free score (higher is better)")
    for ax in axes:
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def log_translator_run(
    name: str,
    params: Mapping[str, Any],
    aligner: Aligner,
    translator_dir: str | Path,
    eval_rows: Sequence[EvalRow] = (),
    uri: str | None = None,
    run_id: str | None = None,
) -> tuple[str, str]:
    """Log one fitted translator as a new run (or into the open run `run_id`, which it then ends); the run id and
    the URI `mlflow.pyfunc.load_model` loads the translator from."""
    import mlflow
    from mlflow.entities import Metric, Param, RunStatus

    client, experiment = use_store(uri)
    run_id = run_id or str(client.create_run(experiment, run_name=name).info.run_id)
    try:
        now = int(time.time() * 1000)
        flat = flat_params("", params) | {"kind": aligner.kind, "encoders": ",".join(aligner.encoders)}
        history = aligner.fit_info.get("history") or []
        metrics = [
            Metric(key, float(value), now, int(row["step"]))
            for row in history
            for key, value in row.items()
            if key != "step" and isinstance(value, int | float)
        ]
        scores = aligner.fit_info.get(METRIC) or {}
        final: dict[str, float] = {}
        if scores:
            final[f"final.{METRIC}"] = sum(scores.values()) / len(scores)
            final |= {f"final.{pair_metric(*p.split('->'))}": float(v) for p, v in scores.items()}
        for row in eval_rows:
            final |= {f"eval.{row.src}.to.{row.dst}.{m}": float(getattr(row, m)) for m in EVAL_METRICS}
        for key in ("fit_s", "train_s", "steps"):
            if isinstance(aligner.fit_info.get(key), int | float):
                final[key] = float(aligner.fit_info[key])
        metrics += [Metric(key, value, now, 0) for key, value in final.items()]
        params_list = [Param(k, v) for k, v in flat.items()]
        for start in range(0, max(len(metrics), len(params_list)), 100):  # within MLflow's log_batch limits
            client.log_batch(run_id, metrics=metrics[start : start + 100], params=params_list[start : start + 100])
        if history:
            client.log_figure(run_id, _loss_plot(history), "plots/losses.png")
        client.log_artifacts(run_id, str(translator_dir), "translator")
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.pyfunc.save_model(
                str(Path(tmp) / PYFUNC_NAME),
                python_model=str(PYFUNC_CODE),
                artifacts={"translator": str(translator_dir)},
                pip_requirements=[f"vec2vec=={__version__}"],  # skips MLflow's slow requirement inference
            )
            client.log_artifacts(run_id, str(Path(tmp) / PYFUNC_NAME), PYFUNC_NAME)
        model_uri = f"runs:/{run_id}/{PYFUNC_NAME}"
        client.set_tag(run_id, "translator_model_uri", model_uri)
    except BaseException:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(run_id)
    return run_id, model_uri


def log_fitted(
    name: str,
    params: Mapping[str, Any],
    aligner: Aligner,
    translator_dir: str | Path,
    uri: str | None = None,
    run_id: str | None = None,
) -> tuple[str, str]:
    """`log_translator_run` with the paired eval metrics of the training corpus's eval split, when it has one
    (recorded only: nothing chooses by them)."""
    try:
        _, vectors = eval_pairs(aligner.fit_info["train"]["data"], aligner.encoders)
        rows = evaluate(aligner, vectors)
    except DataError:  # a corpus without an eval split: logged without eval metrics
        rows = []
    return log_translator_run(name, params, aligner, translator_dir, rows, uri=uri, run_id=run_id)
