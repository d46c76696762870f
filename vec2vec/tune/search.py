"""Ray Tune over seeds, learning rates and loss weights of the universal latent, chosen by the label-free score.

Each trial trains one model in its own Tune actor (the loop of loop.py, one process) on the unpaired training
vectors, put in the object store once. Every `report.every` steps it reports the label-free score (kNN mixing of
translations with real vectors, no pairs), which Tune maximises and ASHA uses to stop weak trials early. Paired
eval metrics never reach Tune: only the exported best translator is evaluated, and only to be recorded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vec2vec.config import ConfigError
from vec2vec.runtime import cpu_threads, init_ray
from vec2vec.universal.aligner import check_vectors
from vec2vec.universal.data import training_spaces
from vec2vec.universal.train import train_record
from vec2vec.universal.universal import (
    LossWeights,
    ModelConfig,
    Trainer,
    UniversalAligner,
    UniversalConfig,
    _fingerprint,
)

from .distributed import storage_uri
from .loop import METRIC, ReportConfig, aligner_from_checkpoint, resume, run_loop, score_samples

KINDS = ("choice", "grid", "uniform", "loguniform", "randint")
TOP_LEVEL = ("seed", "lr", "disc_lr", "batch_size", "steps", "epochs", "max_grad_norm")


def _default_space() -> dict[str, dict[str, Sequence[Any]]]:
    return {"seed": {"choice": (0, 1, 2, 3)}}


@dataclass(frozen=True)
class SearchConfig:
    """The [search] table. `space` maps a parameter to {kind: values}, e.g. `"losses.gan" = {uniform = [0.5, 2]}`.

    Parameters: `seed` (seeds the linear start and the training loop), `lr`, `disc_lr`, `batch_size`, `steps`,
    `epochs`, `max_grad_norm`, `losses.<LossWeights field>`, `model.<ModelConfig field>`. Kinds: choice (values),
    grid (every value, times `trials`), uniform / loguniform [low, high], randint [low, high).
    """

    trials: int = 4  # samples drawn from the space (each grid point gets this many)
    space: dict[str, dict[str, Sequence[Any]]] = field(default_factory=_default_space)
    report: ReportConfig = field(default_factory=lambda: ReportConfig(every=50))
    grace_reports: int = 2  # ASHA: reports every trial makes before it may be stopped
    reduction_factor: int = 2  # ASHA: keep the top 1/reduction_factor at each rung
    max_concurrent: int = 0  # trials at once; 0: as many as the cluster's CPUs fit
    cpus_per_trial: float = 1.0
    max_failures: int = 1  # restarts of a failed trial (from its last checkpoint)
    storage: str = "runs/ray"  # Ray run storage: a path shared by every node, or a URI

    def __post_init__(self) -> None:
        if self.trials < 1 or self.grace_reports < 1 or self.reduction_factor < 2 or self.cpus_per_trial <= 0:
            raise ValueError("trials and grace_reports must be >= 1, reduction_factor >= 2, cpus_per_trial > 0")
        for name, spec in self.space.items():
            _check_name(name)
            if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in KINDS:
                raise ValueError(f"search space {name!r}: give exactly one of {KINDS}, e.g. {{choice = [0, 1]}}")
            kind, values = next(iter(spec.items()))
            if not isinstance(values, Sequence) or not values or (kind in KINDS[2:] and len(values) != 2):
                raise ValueError(
                    f"search space {name!r}: {kind} takes " + ("values" if kind in KINDS[:2] else "[low, high]")
                )


def _check_name(name: str) -> None:
    group, _, leaf = name.partition(".")
    fields = {"losses": LossWeights, "model": ModelConfig}
    if (not leaf and name in TOP_LEVEL) or (
        group in fields and leaf in {f.name for f in dataclasses.fields(fields[group])}
    ):
        return
    known = [*TOP_LEVEL, "losses.<field>", "model.<field>"]
    raise ValueError(f"search space: unknown parameter {name!r}; known: {', '.join(known)}")


def apply(base: UniversalConfig, values: Mapping[str, Any]) -> UniversalConfig:
    """`base` with a trial's sampled values (`seed` is not a config field: it seeds the trial)."""
    parts: dict[str, dict[str, Any]] = {"": {}, "losses": {}, "model": {}}
    for name, value in values.items():
        if name != "seed":
            group, _, leaf = name.rpartition(".")
            parts[group][leaf] = value
    return dataclasses.replace(
        base,
        **parts[""],
        losses=dataclasses.replace(base.losses, **parts["losses"]),
        model=dataclasses.replace(base.model, **parts["model"]),
    )


def param_space(cfg: SearchConfig, seed: int) -> dict[str, Any]:
    from ray import tune

    def domain(kind: str, values: Sequence[Any]) -> Any:
        if kind == "grid":
            return tune.grid_search(list(values))
        if kind == "choice":
            return tune.choice(list(values))
        return {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[kind](*values)

    space = {name: domain(*next(iter(spec.items()))) for name, spec in cfg.space.items()}
    return {"seed": seed} | space


def trial(
    config: dict[str, Any], spaces: dict[str, np.ndarray], base: UniversalConfig, report: ReportConfig, sample_seed: int
) -> None:
    """One Tune trial: the sampled config, trained in this process, reported every `report.every` steps."""
    from ray import tune

    torch.set_num_threads(cpu_threads())
    aligner = UniversalAligner(dataclasses.replace(apply(base, config), progress=False, checkpoint_dir=None))
    aligner.dims = {n: int(x.shape[1]) for n, x in spaces.items()}
    framed, maps, seed = aligner.prepare(spaces, np.random.default_rng(int(config["seed"])))
    trainer = Trainer(aligner, framed, maps, seed, _fingerprint(spaces))
    samples = score_samples(framed, report.score_sample, sample_seed)  # the same vectors for every trial

    def send(metrics: dict[str, float], directory: Path | None) -> None:
        tune.report(metrics, checkpoint=None if directory is None else tune.Checkpoint.from_directory(directory))

    resumes = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            resumes = resume(trainer, Path(d), rank=0)
    run_loop(trainer, aligner, samples, report.every, report.score_k, send, resumes)


def _progress_callback(total: int) -> Any:
    from ray import tune

    class Progress(tune.Callback):
        """One bar over every trial's reports (a stopped trial's remaining reports are skipped)."""

        def __init__(self) -> None:
            self.bar = tqdm(total=total, desc="tune (reports)", unit="report")

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            self.bar.update(1)
            self.bar.set_postfix(best=f"{max(t.last_result.get(METRIC, 0.0) for t in trials):.3f}")

        def on_experiment_end(self, trials: list, **info: Any) -> None:
            self.bar.close()

    return Progress()


@dataclass(frozen=True)
class SearchOutcome:
    best: UniversalAligner  # the exported translator (fit_info["search"] holds every trial's record)
    parent_run: str  # the MLflow run the trials are nested under
    trials: list[dict[str, Any]]


def run_search(
    train: Any, base: UniversalConfig, cfg: SearchConfig, uri: str | None = None, address: str | None = None
) -> SearchOutcome:
    """Search `cfg.space` on `train.data` (a TrainConfig: data, encoders, limit, seed, out), logging every trial
    to MLflow under one parent run; export the best trial's translator to `train.out`."""
    from ray import tune
    from ray.air.integrations.mlflow import MLflowLoggerCallback
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from . import tracking

    if not train.out:
        raise ConfigError("no output directory for the best translator; fix: pass --out DIR (or out in [train])")
    init_ray(address)
    rng = np.random.default_rng(train.seed)
    raw = training_spaces(train.data, train.encoders, train.limit, rng)
    spaces = {n: check_vectors(x, None, f"{n} training vectors") for n, x in raw.items()}
    largest = max(len(x) for x in spaces.values())
    steps = base.steps if base.epochs is None else math.ceil(base.epochs * largest / base.batch_size)
    reports = max(1, math.ceil(steps / cfg.report.every))
    uri = tracking.tracking_uri(uri)
    digest = hashlib.sha256(
        json.dumps(
            [_fingerprint(spaces), dataclasses.asdict(base), dataclasses.asdict(cfg), train.seed], default=str
        ).encode()
    ).hexdigest()[:12]
    name = f"tune-{digest}"
    parent = tracking.create_run(name, uri, {"vec2vec.command": "tune"})
    trainable = tune.with_resources(
        tune.with_parameters(trial, spaces=spaces, base=base, report=cfg.report, sample_seed=train.seed),
        {"cpu": cfg.cpus_per_trial},
    )
    grid_points = math.prod(len(v) for spec in cfg.space.values() for k, v in spec.items() if k == "grid")
    run_config = tune.RunConfig(
        name=name,
        storage_path=storage_uri(cfg.storage),
        verbose=0,
        callbacks=[
            MLflowLoggerCallback(
                tracking_uri=uri, experiment_name=tracking.EXPERIMENT, tags={"mlflow.parentRunId": parent}
            ),
            _progress_callback(cfg.trials * grid_points * reports),
        ],
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
    )
    tuner = tune.Tuner(
        trainable,
        param_space=param_space(cfg, train.seed),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            num_samples=cfg.trials,
            scheduler=ASHAScheduler(
                time_attr="training_iteration",
                max_t=reports,
                grace_period=min(cfg.grace_reports, reports),
                reduction_factor=cfg.reduction_factor,
            ),
            search_alg=BasicVariantGenerator(random_state=train.seed),
            max_concurrent_trials=cfg.max_concurrent or None,
        ),
        run_config=run_config,
    )
    exported = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        grid = tuner.fit()
    finally:  # Ray's MLflow callback sets MLflow's process-wide URI, which exports the variable: put it back
        if exported is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = exported

    records = []
    for result in (grid[i] for i in range(len(grid))):
        if result.error is not None:
            raise RuntimeError(f"trial {result.path} failed: {result.error}")
        records.append(
            {
                "config": result.config,
                METRIC: result.metrics.get(METRIC) if result.metrics else None,
                "reports": result.metrics.get("training_iteration") if result.metrics else None,
                "steps": result.metrics.get("step") if result.metrics else None,
            }
        )
    best = grid.get_best_result(metric=METRIC, mode="max", scope="last")
    assert best.checkpoint is not None and best.config is not None
    with best.checkpoint.as_directory() as d:
        aligner = aligner_from_checkpoint(d)
    aligner.fit_info |= {
        "train": train_record(train.data, train.seed, train.limit, spaces, paired=False),
        "search": {"name": name, "best": best.config, "trials": records},
    }
    aligner.save(train.out)
    return SearchOutcome(aligner, parent, records)
