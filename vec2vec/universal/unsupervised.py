"""The unsupervised linear translator: moment-matched start, refinement, label-free choice among candidates.

For each pair of encoders: the moment search (moment_init) is run in both directions; its best distinct
solutions are candidates (an orthogonal map found from b to a is a map from a to b, transposed). Each candidate
gets a short refinement and a label-free score (selection), and the best-scoring one is refined fully. With more
than two encoders each one is fitted against the first (the hub) and the other pairs are composed through it.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from vec2vec.universal.aligner import register_aligner
from vec2vec.universal.linear import LinearAligner
from vec2vec.universal.moment_init import MomentInitConfig, moment_candidates
from vec2vec.universal.refine import RefineConfig, refine
from vec2vec.universal.selection import SelectionConfig, label_free_score

SCREEN = RefineConfig(schedule=((50, 20), (20, 15), (5, 15)), mutual_rounds=1, mutual_sample=8000)


@dataclass(frozen=True)
class LinearUnsupervisedConfig:
    init: MomentInitConfig = field(default_factory=MomentInitConfig)
    candidates: int = 3  # distinct moment solutions per direction given a short refinement and a score
    screen: RefineConfig = SCREEN  # the short refinement
    refine: RefineConfig = field(default_factory=RefineConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)


def distinct(maps: list[np.ndarray], limit: int, tol: float = 1e-2) -> list[np.ndarray]:
    """The first `limit` maps that differ from every earlier one (many starts converge to one solution)."""
    kept: list[np.ndarray] = []
    for w in maps:
        if all(np.abs(w - k).max() > tol for k in kept):
            kept.append(w)
        if len(kept) == limit:
            break
    return kept


def align_pair(
    xa: np.ndarray, xb: np.ndarray, cfg: LinearUnsupervisedConfig, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """Unsupervised orthogonal map (d_a, d_b) between two framed, unpaired sets, and what the fit measured."""
    t0 = time.perf_counter()
    forward, _ = moment_candidates(xa, xb, cfg.init, rng)
    backward, _ = moment_candidates(xb, xa, cfg.init, rng)
    starts = distinct(forward, cfg.candidates) + [w.T for w in distinct(backward, cfg.candidates)]
    t_init = time.perf_counter() - t0
    screened = []
    for w in starts:
        w = refine(xa, xb, w, cfg.screen, rng)
        screened.append((label_free_score(xa, xb, w, cfg.selection, rng), w))
    best = max(screened, key=lambda s: s[0])[1]
    t_screen = time.perf_counter() - t0 - t_init
    w = refine(xa, xb, best, cfg.refine, rng)
    info = {
        "init_s": t_init,
        "screen_s": t_screen,
        "refine_s": time.perf_counter() - t0 - t_init - t_screen,
        "candidate_scores": [s for s, _ in screened],
        "label_free": label_free_score(xa, xb, w, cfg.selection, rng),
    }
    return w, info


@register_aligner
class LinearUnsupervised(LinearAligner):
    """Orthogonal maps between centred frames, found without pairs."""

    kind = "linear"
    Config = LinearUnsupervisedConfig

    def _fit(self, spaces: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        framed = self.frames.fit(spaces)
        hub, *others = list(spaces)
        scores: dict[str, float] = {}
        for other in others:
            w, info = align_pair(framed[hub], framed[other], self.config, rng)
            self.set_orthogonal(hub, other, w)
            self.fit_info[f"{hub}->{other}"] = info
            scores[f"{hub}->{other}"] = scores[f"{other}->{hub}"] = info["label_free"]
        self.compose_through(hub)
        for a, b in itertools.permutations(others, 2):
            scores[f"{a}->{b}"] = min(scores[f"{a}->{hub}"], scores[f"{hub}->{b}"])
        self.fit_info["label_free"] = scores
