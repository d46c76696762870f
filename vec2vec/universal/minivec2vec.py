"""mini-vec2vec (Dar, 2025; arXiv 2510.02348; github guy-dar/mini-vec2vec, `linear_vec2vec.ipynb`) as a baseline.

A faithful port of the published linear pipeline, with its published defaults, so that our method is compared
against it on the same frames, data and metrics. Everything happens in centred frames X = unit(x - mean_x),
Y = unit(y - mean_y) (each mean from that side's own unpaired training vectors, as in the notebook):

1. Anchors. `stage1_draws` times: subsample each side, KMeans each subsample, build the centred Gram matrix
   H C C^T H of each side's centroids, and match the centroids by quadratic assignment (scipy 2-opt, maximising
   agreement, best of `qap_runs` random starts). The matched centroid pairs of all draws are the anchors.
2. Pseudo-pairs. Every point is described by its cosines to its own side's anchors (relative representation);
   each source point's pseudo-target is the uniform mean of the `stage2_neighbours` target points whose relative
   representations are most cosine-similar to its own. W = Procrustes(X, pseudo-targets).
3. Refine-1 (iterative closest point average): `refine_iterations` times, map a random batch of source points,
   average each one's `refine_neighbours` nearest targets, Procrustes to those averages, W <- (1-a) W + a W_new.
4. Refine-2 (cluster correction): `cluster_rounds` times, KMeans on X, KMeans on Y started from the source
   centroids mapped by W, Procrustes on the centroid pairs, W <- (1-a) W + a W_new.

As in the notebook, the final W (a damped average of orthogonal matrices) is not re-orthogonalised.

Where this port differs from the notebook, and why:
- Different widths: the notebook calls `scipy.linalg.orthogonal_procrustes`, which needs equal widths; here
  Procrustes is the semi-orthogonal U V^T of svd(X^T Y) (`linear.procrustes`), identical for equal widths.
- The notebook fits one direction. The reverse map b->a stored here is polar(W^T), the nearest (semi-)orthogonal
  matrix to W's transpose, not a second run of the method: W is a near-orthogonal damped average, so W^T is
  nearly its inverse, and the polar factor removes the small non-orthogonal part rather than amplifying it as a
  pseudo-inverse would.
- More than two encoders: the notebook aligns one pair. Here each encoder is fitted against the first one (the
  hub, as the source side) and other pairs are composed through it: i->j = (i->hub) @ (hub->j).
- Randomness: the notebook uses global torch/numpy state; here every subsample, KMeans seed and QAP start is
  drawn from the `rng` passed to fit. scipy's 2-opt ignores the notebook's `P0="randomized"` option (it warns
  that the option is unknown) and starts from a random permutation anyway, so only `maximize` and the seed are
  passed.
- Stage 2 scores all source x target pairs in row blocks (`block`), which changes memory use, not results.
- The notebook's KMeans calls use scikit-learn's defaults; since scikit-learn 1.4 the default `n_init="auto"`
  means one k-means++ run (and one run from an explicit init), which `kmeans_n_init = 1` pins down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import quadratic_assignment
from sklearn.cluster import KMeans

from vec2vec.universal.aligner import register_aligner, unit
from vec2vec.universal.linear import LinearAligner, polar, procrustes
from vec2vec.universal.neighbours import top_k


@dataclass(frozen=True)
class MiniVec2VecConfig:
    """The published defaults of `linear_vec2vec.ipynb` (the comment says where each one is used)."""

    stage1_draws: int = 30  # stage 1: independent subsample -> KMeans -> QAP draws; anchors = draws * clusters
    stage1_subsample: int = 10_000  # stage 1: points drawn per side (without replacement) in each draw
    stage1_clusters: int = 20  # stage 1: KMeans clusters per side in each draw (the QAP size)
    qap_runs: int = 30  # stage 1: random-start 2-opt QAP runs per draw; the best objective is kept
    stage2_neighbours: int = 50  # stage 2: target points averaged (uniformly) into each pseudo-target
    refine_iterations: int = 100  # refine-1: iterative closest point average steps
    refine_batch: int = 1000  # refine-1: random source points per step
    refine_neighbours: int = 50  # refine-1: nearest targets (under the current map) averaged per source point
    damping: float = 0.5  # refine-1 and refine-2: W <- (1 - damping) W + damping W_new
    cluster_rounds: int = 1  # refine-2: cluster-correction passes
    refine_clusters: int = 500  # refine-2: KMeans clusters per side
    kmeans_n_init: int = 1  # every KMeans: restarts (scikit-learn's default "auto" is 1 run)
    block: int = 1024  # stage 2: source rows scored at once (memory only; results do not depend on it)

    def __post_init__(self) -> None:
        for name in (
            "stage1_draws",
            "stage1_subsample",
            "stage1_clusters",
            "qap_runs",
            "stage2_neighbours",
            "refine_batch",
            "refine_neighbours",
            "refine_clusters",
            "kmeans_n_init",
            "block",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("refine_iterations", "cluster_rounds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.damping <= 1:
            raise ValueError(f"damping must be in (0, 1], got {self.damping}")


def _seed(rng: np.random.Generator) -> int:
    """An integer seed for scikit-learn / scipy, drawn from `rng`."""
    return int(rng.integers(2**31 - 1))


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= n else x[rng.permutation(len(x))[:n]]


def _kmeans(x: np.ndarray, k: int, cfg: MiniVec2VecConfig, rng: np.random.Generator, init: Any = "k-means++") -> KMeans:
    return KMeans(n_clusters=min(k, len(x)), init=init, n_init=cfg.kmeans_n_init, random_state=_seed(rng)).fit(x)


def _centred_gram(c: np.ndarray) -> np.ndarray:
    """H C C^T H with H = I - 11^T / n: the centroids' Gram matrix with row and column means removed."""
    g = c.astype(np.float64) @ c.T.astype(np.float64)
    return g - g.mean(axis=0, keepdims=True) - g.mean(axis=1, keepdims=True) + g.mean()


def matched_centroids(
    x: np.ndarray, y: np.ndarray, cfg: MiniVec2VecConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float]:
    """One stage-1 draw: KMeans centroids of a subsample of each side, the target's reordered to match the source's
    by quadratic assignment of their centred Gram matrices; and the best QAP objective."""
    ca = _kmeans(_subsample(x, cfg.stage1_subsample, rng), cfg.stage1_clusters, cfg, rng).cluster_centers_
    cb = _kmeans(_subsample(y, cfg.stage1_subsample, rng), cfg.stage1_clusters, cfg, rng).cluster_centers_
    k = min(len(ca), len(cb))
    ca, cb = ca[:k], cb[:k]
    ga, gb = _centred_gram(ca), _centred_gram(cb)
    best = None
    for _ in range(cfg.qap_runs):
        res = quadratic_assignment(
            ga, gb, method="2opt", options={"maximize": True, "rng": np.random.default_rng(_seed(rng))}
        )
        if best is None or res.fun > best.fun:
            best = res
    assert best is not None
    return ca, cb[best.col_ind], float(best.fun)


def _top_k_mean(scores: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """For each row of `scores` (n, len(y)), the uniform mean of the `k` rows of `y` that score highest."""
    k = min(k, len(y))
    return y[top_k(scores, k)[1]].mean(axis=1)


def relative_pseudo_targets(
    x: np.ndarray, y: np.ndarray, anchors_x: np.ndarray, anchors_y: np.ndarray, cfg: MiniVec2VecConfig
) -> np.ndarray:
    """Stage 2: each source point's pseudo-target, from nearest neighbours in relative-representation space."""
    rel_x = unit(x @ unit(anchors_x).T.astype(np.float32))
    rel_y = unit(y @ unit(anchors_y).T.astype(np.float32))
    out = np.empty((len(x), y.shape[1]), dtype=np.float64)
    for i in range(0, len(x), cfg.block):
        out[i : i + cfg.block] = _top_k_mean(rel_x[i : i + cfg.block] @ rel_y.T, y, cfg.stage2_neighbours)
    return out


def mini_vec2vec_pair(
    x: np.ndarray, y: np.ndarray, cfg: MiniVec2VecConfig, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """The published pipeline on two framed, unpaired sets: the map W (d_x, d_y) and what the fit measured."""
    t0 = time.perf_counter()
    draws = [matched_centroids(x, y, cfg, rng) for _ in range(cfg.stage1_draws)]
    anchors_x = np.concatenate([d[0] for d in draws])
    anchors_y = np.concatenate([d[1] for d in draws])
    objectives = [d[2] for d in draws]
    t1 = time.perf_counter()

    w = procrustes(x, relative_pseudo_targets(x, y, anchors_x, anchors_y, cfg)).astype(np.float64)
    t2 = time.perf_counter()

    a = cfg.damping
    for _ in range(cfg.refine_iterations):
        xs = _subsample(x, cfg.refine_batch, rng)
        mapped = (xs @ w).astype(np.float32)  # float32 scores, as the notebook's torch code; ranks ignore norms
        targets = _top_k_mean(mapped @ y.T, y, cfg.refine_neighbours)
        w = (1 - a) * w + a * procrustes(xs, targets)
    consistency = []
    for _ in range(cfg.cluster_rounds):
        cx = _kmeans(x, cfg.refine_clusters, cfg, rng).cluster_centers_
        cy = _kmeans(y, len(cx), cfg, rng, init=(cx @ w).astype(y.dtype)).cluster_centers_
        consistency.append(float(np.mean(np.sum(unit(cx @ w) * unit(cy), axis=1))))
        w = (1 - a) * w + a * procrustes(cx, cy)
    t3 = time.perf_counter()

    info = {
        "stage1_s": t1 - t0,
        "stage2_s": t2 - t1,
        "refine_s": t3 - t2,
        "anchors": len(anchors_x),
        "qap_objective": float(np.mean(objectives)),  # mean over draws of the best 2-opt objective
        "qap_objectives": objectives,
        "kmeans_consistency": consistency,  # mean cosine of mapped source centroids with their target centroids
    }
    return w.astype(np.float32), info


@register_aligner
class MiniVec2Vec(LinearAligner):
    """mini-vec2vec (arXiv 2510.02348), ported faithfully with its published defaults: a baseline.

    Maps between centred frames: anchors matched by QAP on KMeans centroids, pseudo-pairs from relative
    representations, Procrustes, then ICP-average and cluster refinements (see the module docstring). The fitted
    map hub->other is the method's own output (not re-orthogonalised, as published); the reverse map other->hub
    is polar(W^T), the nearest (semi-)orthogonal matrix to its transpose, rather than a second fit. With more than
    two encoders each is fitted against the first (the hub) and the other pairs are composed through the hub.
    `fit_info["<hub>-><other>"]` holds each fit's stage timings (stage1_s, stage2_s, refine_s) and QAP objective;
    top-level stage1_s, stage2_s, refine_s are their sums over the fitted pairs.
    """

    kind = "mini-vec2vec"
    Config = MiniVec2VecConfig

    def _fit(self, spaces: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        framed = self.frames.fit(spaces)
        hub, *others = list(spaces)
        totals = dict.fromkeys(("stage1_s", "stage2_s", "refine_s"), 0.0)
        for other in others:
            w, info = mini_vec2vec_pair(framed[hub], framed[other], self.config, rng)
            self.maps[(hub, other)] = w
            self.maps[(other, hub)] = np.ascontiguousarray(polar(w.T), dtype=np.float32)
            self.fit_info[f"{hub}->{other}"] = info
            for key in totals:
                totals[key] += info[key]
        self.compose_through(hub)
        self.fit_info |= totals
