"""Unsupervised starting maps from many local optima of point matching in the top principal subspaces.

Why: where the moment search's minimum is not the true rotation (MiniLM/E5, USE/WordLlama), the true one is
still among the local optima of matching the two p-dimensional point clouds: iterative closest points with a
one-to-one assignment (Hungarian, on a few hundred points a side) from random orthogonal starts lands on many
distinct rotations, a few of them near the truth (measured on MiniLM->E5: 60 distinct optima, the best lifted to a
start of FOSCTTM 0.20, inside the refinement's basin). No low-dimensional criterion tells which one (the
matching cost, energy distance and MMD in the subspace all rate wrong rotations at least as well as the true
one), so the candidates are screened in the full space by the label-free score (unsupervised.screen).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import ortho_group

from vec2vec.universal.linear import procrustes
from vec2vec.universal.moment_init import Side


@dataclass(frozen=True)
class SubspaceICPConfig:
    candidates: int = 30  # distinct optima wanted (per direction)
    subspace_dim: int = 8  # p, clipped to the narrower width
    sample: int = 400  # points a side in each assignment
    iterations: int = 30  # assignment/Procrustes rounds per start at most
    max_starts: int = 300  # give up looking for distinct optima after this many starts


def subspace_icp(pa: np.ndarray, pb: np.ndarray, q: np.ndarray, iterations: int) -> np.ndarray:
    """Iterate one-to-one assignment of `pa @ q` to `pb` (max inner product) and Procrustes until q settles."""
    for _ in range(iterations):
        rows, cols = linear_sum_assignment(-(pa @ q) @ pb.T)
        new = procrustes(pa[rows], pb[cols]).astype(np.float64)
        if np.allclose(new, q, atol=1e-4):
            return new
        q = new
    return q


def icp_candidates(a: Side, b: Side, cfg: SubspaceICPConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """Distinct rank-p starting maps (d_a, d_b) from ICP optima in the two top-p principal subspaces."""
    p = min(cfg.subspace_dim, a.x.shape[1], b.x.shape[1])
    va, pa = a.subspace(p)
    vb, pb = b.subspace(p)
    pa = pa[rng.choice(len(pa), min(cfg.sample, len(pa)), replace=False)]
    pb = pb[rng.choice(len(pb), min(cfg.sample, len(pb)), replace=False)]
    found: list[np.ndarray] = []
    for _ in range(cfg.max_starts):
        q = subspace_icp(pa, pb, ortho_group.rvs(p, random_state=rng), cfg.iterations)
        if all(np.abs(q - f).max() > 1e-2 for f in found):
            found.append(q)
        if len(found) == cfg.candidates:
            break
    return [(va.T @ q @ vb).astype(np.float32) for q in found]
