"""Fit a translator (or the reference baselines) from an embedding job's output: what `vec2vec train` runs.

Kept apart from the CLI so benchmarks and the demo fit exactly what the command line fits. One seeded
generator drives both the data subsample and the fit, so a (config, seed) pair reproduces a translator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vec2vec.config import ConfigError
from vec2vec.universal.aligner import Aligner
from vec2vec.universal.data import open_corpus, paired_training_spaces, training_spaces
from vec2vec.universal.methods import METHODS

BASELINES = ("identity", "random", "oracle-procrustes", "oracle-ridge")


@dataclass(frozen=True)
class TrainConfig:
    data: str = ""  # <out>/<corpus> of `vec2vec embed` (a training corpus: train_a, train_b)
    encoders: tuple[str, ...] = ()  # two or more encoders embedded there
    method: str = ""  # a name in vec2vec.universal.methods.METHODS
    limit: int | None = None  # at most this many training vectors per encoder (a seeded subsample)
    seed: int = 0
    out: str | None = None  # save the fitted translator here (a directory); None: do not save

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 2:
            raise ValueError(f"limit must be >= 2, got {self.limit}")


def method_class(name: str) -> type[Aligner]:
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[name]


def train_record(
    data: str | Path, seed: int, limit: int | None, spaces: dict[str, np.ndarray], paired: bool
) -> dict[str, Any]:
    """`fit_info["train"]`: what a translator was fitted on, so evaluation can fit baselines on as much data."""
    root = str(open_corpus(data).layout.root)
    return {
        "data": root,
        "seed": seed,
        "limit": limit,
        "rows": {n: len(x) for n, x in spaces.items()},
        "paired": paired,
    }


def _fit(
    cls: type[Aligner], spaces: dict[str, np.ndarray], rng: np.random.Generator, config: Any, train: dict[str, Any]
) -> Aligner:
    aligner = cls(config)
    start = time.perf_counter()
    aligner.fit(spaces, rng)
    aligner.fit_info["fit_s"] = time.perf_counter() - start
    aligner.fit_info["train"] = train
    return aligner


def fit_translator(cfg: TrainConfig, method_config: Any = None) -> Aligner:
    """Fit `cfg.method` on `cfg.data` (true pairs for paired methods, unpaired sides otherwise); save to `cfg.out`.

    `fit_info["fit_s"]` is the wall time of the fit alone; `fit_info["train"]` records the data, encoders,
    seed, limit and rows per encoder, so evaluation can fit baselines on the same amount of data.
    """
    for field, flag in (("data", "--data"), ("method", "--method")):
        if not getattr(cfg, field):
            raise ConfigError(f"no {field} given; fix: pass {flag} (or set {field} in the [train] table)")
    cls = method_class(cfg.method)
    if method_config is not None and not isinstance(method_config, cls.Config):
        raise ConfigError(f"method {cfg.method!r} takes a {cls.Config.__name__}, got {type(method_config).__name__}")
    rng = np.random.default_rng(cfg.seed)
    read = paired_training_spaces if cls.paired else training_spaces
    spaces = read(cfg.data, cfg.encoders, cfg.limit, rng)
    aligner = _fit(cls, spaces, rng, method_config, train_record(cfg.data, cfg.seed, cfg.limit, spaces, cls.paired))
    if cfg.out:
        aligner.save(cfg.out)
    return aligner


def fit_baselines(
    data: str | Path,
    encoders: tuple[str, ...] | list[str],
    limit: int | None,
    seed: int = 0,
    names: tuple[str, ...] = BASELINES,
) -> list[Aligner]:
    """The reference rows of every table, all fitted on the same `limit` true pairs of `train_a`.

    Identity is skipped when widths differ (it is undefined there); random is the chance level; the oracles are
    supervised ceilings.
    """
    rng = np.random.default_rng(seed)
    spaces = paired_training_spaces(data, encoders, limit, rng)
    widths = {x.shape[1] for x in spaces.values()}
    classes = [method_class(name) for name in names if not (name == "identity" and len(widths) > 1)]
    record = train_record(data, seed, limit, spaces, paired=True)  # one manifest read for every baseline
    return [_fit(cls, spaces, rng, None, record | {"paired": cls.paired}) for cls in classes]
