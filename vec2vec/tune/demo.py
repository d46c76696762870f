"""The demo's scale-out part ([scale] table of demo.toml): Ray Train, a small Ray Tune search, local MLflow.

Runs on the corpus the demo just embedded: the universal latent trained data-parallel through Ray Train, then a
few trials over seeds / learning rate / loss weights chosen by the label-free score, both logged to the local
MLflow store (nothing to start). Sizes are small so it adds about two minutes on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vec2vec.universal.train import TrainConfig
from vec2vec.universal.universal import UniversalConfig

from . import tracking
from .distributed import DistributedConfig, fit_distributed
from .search import SearchConfig, run_search


@dataclass(frozen=True)
class ScaleDemoConfig:
    corpus: str = "wordnet"  # a training corpus of the [embed] table
    encoders: tuple[str, ...] = ("minilm", "use")
    limit: int | None = 1000  # training vectors per encoder
    seed: int = 0
    out: str = "runs/demo/scale"
    method: UniversalConfig = field(default_factory=UniversalConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    search: SearchConfig = field(default_factory=SearchConfig)


def run_scale_demo(cfg: ScaleDemoConfig, embeddings: str | Path, uri: str | None = None) -> list[tuple[Any, ...]]:
    """Train through Ray Train, search through Ray Tune, log both; one summary row per run."""
    data = str(Path(embeddings) / cfg.corpus)
    out = Path(cfg.out)
    train = TrainConfig(data=data, encoders=cfg.encoders, method="universal", limit=cfg.limit, seed=cfg.seed)
    rows = []

    print(f"Ray Train: universal latent, {cfg.distributed.workers} workers, {cfg.method.steps} steps")
    fitted = fit_distributed(replace(train, out=str(out / "ray-train")), cfg.method, cfg.distributed)
    params = {"train": train, "method": cfg.method, "distributed": cfg.distributed}
    run, _ = tracking.log_fitted("demo-ray-train", params, fitted, out / "ray-train", uri)
    rows.append(("ray-train", _mean(fitted.fit_info["label_free"]), f"{fitted.fit_info['fit_s']:.0f}", run))

    print(f"Ray Tune: {cfg.search.trials} trials over {', '.join(cfg.search.space)} (metric: label-free score)")
    outcome = run_search(replace(train, out=str(out / "tune-best")), cfg.method, cfg.search, uri)
    best = outcome.best
    params = {"train": train, "method": cfg.method, "search": cfg.search, "best": best.fit_info["search"]["best"]}
    tracking.log_fitted("demo-tune-best", params, best, out / "tune-best", uri, run_id=outcome.parent_run)
    rows.append(("tune best", _mean(best.fit_info["label_free"]), "-", outcome.parent_run))
    return rows


def _mean(scores: dict[str, float]) -> str:
    return f"{sum(scores.values()) / len(scores):.3f}"
