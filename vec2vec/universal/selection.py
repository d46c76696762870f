"""A label-free score for choosing among candidate maps: how well translated vectors mix with real ones.

Nearest-neighbour criteria (mean NN cosine, mutual-NN cosine, the CSLS criterion of MUSE/VecMap) cannot choose
here: refinement maximises exactly those, so a map refined into a wrong optimum scores as high as the right one
(feasibility study: mutual-NN cosine 0.442-0.448 for failed maps against 0.442 for the supervised oracle). A
distribution test does not share that blind spot: pool a sample of translated source vectors with a sample of
real target vectors and count, for each point, how many of its k nearest neighbours come from the *other* set.
If translations are distributed like real target vectors the fraction approaches 0.5; a wrong map piles
translations into the wrong regions and they neighbour each other instead. Measured on MiniLM->USE candidates
after a short refinement: 0.078 for a failed map (top-1 0.001), 0.092-0.117 for working ones (top-1 0.05-0.35),
and the highest score was the best map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vec2vec.universal.neighbours import top_k


@dataclass(frozen=True)
class SelectionConfig:
    sample: int = 4000  # points per side
    k: int = 10  # neighbours inspected per point


def knn_mixing(ya: np.ndarray, yb: np.ndarray, k: int) -> float:
    """Mean fraction of each pooled point's k nearest neighbours (cosine) that belong to the other set."""
    pooled = np.vstack([ya, yb]).astype(np.float32)
    side = np.r_[np.zeros(len(ya), bool), np.ones(len(yb), bool)]
    k = min(k, len(pooled) - 1)
    other = 0
    for i in range(0, len(pooled), 2048):
        sim = pooled[i : i + 2048] @ pooled.T
        np.fill_diagonal(sim[:, i : i + 2048], -np.inf)
        nearest = top_k(sim, k)[1]
        other += int((side[nearest] != side[i : i + 2048, None]).sum())
    return other / (len(pooled) * k)


def translated_mixing(sa: np.ndarray, sb: np.ndarray, w: np.ndarray, k: int) -> float:
    """`knn_mixing` of source vectors `sa` translated by `w` (and normalised) with target vectors `sb`."""
    ya = sa @ w
    ya /= np.maximum(np.linalg.norm(ya, axis=1, keepdims=True), 1e-12)
    return knn_mixing(ya, sb, k)


def score_sample(
    xa: np.ndarray, xb: np.ndarray, cfg: SelectionConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The points a side that one label-free score looks at."""
    sa = xa[rng.choice(len(xa), min(cfg.sample, len(xa)), replace=False)]
    sb = xb[rng.choice(len(xb), min(cfg.sample, len(xb)), replace=False)]
    return sa, sb


def label_free_score(
    xa: np.ndarray, xb: np.ndarray, w: np.ndarray, cfg: SelectionConfig, rng: np.random.Generator
) -> float:
    """kNN mixing of translated source vectors `xa @ w` with target vectors `xb` (both framed); higher is better."""
    return translated_mixing(*score_sample(xa, xb, cfg, rng), w, cfg.k)
