"""Process set-up shared by the CLI, tests and Ray workers: quiet offline defaults and a local Ray."""

from __future__ import annotations

import logging
import os

# setdefault semantics: a user's own value always wins. Offline HF flags stop hub look-ups that would hang
# or fail without internet; users who want hub models set HF_HUB_OFFLINE=0.
DEFAULT_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1",
    "RAY_TRAIN_METRICS_ENABLED": "0",
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
    "RAY_TRAIN_ENABLE_STATE_TRACKING": "0",
    "RAY_TRAIN_COLLECTIVE_TIMEOUT_S": "120",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
    "RAY_DEDUP_LOGS": "1",
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
}


def configure_env() -> None:
    """Apply DEFAULT_ENV; must run before ray/transformers are imported to take effect."""
    for key, value in DEFAULT_ENV.items():
        os.environ.setdefault(key, value)


def cpu_threads() -> int:
    """Threads this process may use: Ray sets OMP_NUM_THREADS to an actor's CPUs; else every core."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to `address` (or RAY_ADDRESS), else start a small local Ray sized to this machine."""
    configure_env()
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        # A private local cluster: no token file to manage. A real cluster keeps its own auth settings.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(
            num_cpus=num_cpus or os.cpu_count(),
            num_gpus=0,
            object_store_memory=512 * 1024**2,
            include_dashboard=None,  # None, not False: Train V2 polls the state API it brings
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    import ray.data

    # vec2vec shows its own progress; Ray Data's per-dataset INFO lines and bars would interleave with it.
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
