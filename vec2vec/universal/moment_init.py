"""Unsupervised starting map: match rotation-covariant moments of the two spaces' top principal subspaces.

Why this works where k-means + quadratic assignment does not: the top principal subspaces of two text encoders
are largely shared (measured on MiniLM/USE: canonical correlations 0.91-0.52 for the top 8), so the true map,
restricted to them, is close to an orthogonal p x p matrix Q. A rank-p map built from the true Q already ranks
true pairs well (FOSCTTM 0.08 on MiniLM->USE), inside the basin from which refinement converges. Q is found from
moments alone, no pairs: second moments, third moments (skew from the corpus mixture), the norm-weighted fourth
moments, and moments weighted by each point's local density (an intrinsic scalar both encoders roughly agree on).
Every moment transforms by Q, so Q is the orthogonal matrix that best carries one side's set onto the other's,
found by gradient descent over SO(p) and its reflection from many random starts (a p x p problem: seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import ortho_group


@dataclass(frozen=True)
class MomentInitConfig:
    subspace_dim: int = 8  # p: principal directions matched per side (clipped to the narrower width)
    starts: int = 64  # random orthogonal starts for the p x p search
    steps: int = 300  # Adam steps per start
    lr: float = 0.05
    density_k: int = 10  # local density = mean cosine to the k nearest neighbours
    density_reference: int = 6000  # neighbours are searched among this many points of the same side


def local_density(x: np.ndarray, k: int, reference: int, rng: np.random.Generator) -> np.ndarray:
    """Standardised mean cosine of each row to its k nearest neighbours among a reference sample of `x`."""
    ref = x[rng.choice(len(x), min(reference, len(x)), replace=False)]
    k = min(k, len(ref) - 2)
    out = np.empty(len(x), np.float64)
    for i in range(0, len(x), 4096):
        sim = x[i : i + 4096] @ ref.T
        top = -np.partition(-sim, k, axis=1)[:, : k + 1]  # k+1: a point may meet itself in the reference
        out[i : i + 4096] = (top.sum(axis=1) - top.max(axis=1)) / k
    return (out - out.mean()) / max(out.std(), 1e-12)


@dataclass(frozen=True)
class Side:
    """One encoder's framed vectors with what the start searches read, computed once per fit (not once per search
    and direction): the principal directions and each point's local density."""

    x: np.ndarray
    directions: np.ndarray  # (d, d) principal directions as rows, largest variance first
    variances: np.ndarray  # (d,) sum of squares along each direction
    density: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, cfg: MomentInitConfig, rng: np.random.Generator) -> Side:
        x64 = x.astype(np.float64)
        variances, vectors = np.linalg.eigh(x64.T @ x64)
        order = np.argsort(variances)[::-1]
        density = local_density(x, cfg.density_k, cfg.density_reference, rng)
        return cls(x, vectors[:, order].T, variances[order], density)

    def subspace(self, p: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-p principal directions (p, d) and the coordinates (n, p), scaled to unit total variance."""
        scale = np.sqrt(len(self.x) / self.variances[:p].sum())
        return self.directions[:p], (self.x @ self.directions[:p].T) * scale


def moment_stats(coords: np.ndarray, density: np.ndarray) -> dict[str, torch.Tensor]:
    p = torch.as_tensor(coords, dtype=torch.float64)
    f = torch.as_tensor(density, dtype=torch.float64)
    n = len(p)
    return {
        "cov": p.T @ p / n,
        "skew": torch.einsum("ni,nj,nk->ijk", p, p, p) / n,
        "kurt": (p * (p**2).sum(1, keepdim=True)).T @ p / n,
        "density": (f[:, None] * p).mean(0),
        "density_cov": (p * f[:, None]).T @ p / n,
    }


def _carry(m: dict[str, torch.Tensor], q: torch.Tensor) -> dict[str, torch.Tensor]:
    """Moments of coords @ q, for a batch of q (b, p, p)."""
    return {
        "cov": q.mT @ m["cov"] @ q,
        "skew": torch.einsum("ijk,bia,bjc,bke->bace", m["skew"], q, q, q),
        "kurt": q.mT @ m["kurt"] @ q,
        "density": m["density"] @ q,
        "density_cov": q.mT @ m["density_cov"] @ q,
    }


def moment_loss(ma: dict[str, torch.Tensor], mb: dict[str, torch.Tensor], q: torch.Tensor) -> torch.Tensor:
    """Per-q sum of relative squared moment mismatches (each moment weighs the same, whatever its scale)."""
    carried = _carry(ma, q)
    total = torch.zeros(len(q), dtype=torch.float64)
    for key, target in mb.items():
        diff = (carried[key] - target).reshape(len(q), -1)
        total = total + (diff**2).sum(1) / (target**2).sum()
    return total


def match_moments(
    ma: dict[str, torch.Tensor], mb: dict[str, torch.Tensor], cfg: MomentInitConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """All starts optimised together; returns their final q (starts, p, p) and losses, best first."""
    p = ma["cov"].shape[0]
    q0 = torch.as_tensor(np.stack([ortho_group.rvs(p, random_state=rng) for _ in range(cfg.starts)]))
    skew = torch.zeros_like(q0, requires_grad=True)
    opt = torch.optim.Adam([skew], lr=cfg.lr)
    for _ in range(cfg.steps):
        loss = moment_loss(ma, mb, q0 @ torch.linalg.matrix_exp(skew - skew.mT))
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    with torch.no_grad():
        q = q0 @ torch.linalg.matrix_exp(skew - skew.mT)
        loss = moment_loss(ma, mb, q)
    order = torch.argsort(loss)
    return q[order].numpy(), loss[order].numpy()


def moment_candidates(
    a: Side, b: Side, cfg: MomentInitConfig, rng: np.random.Generator
) -> tuple[list[np.ndarray], np.ndarray]:
    """Candidate starting maps (d_a, d_b), of rank p, best moment match first, with their moment losses."""
    p = min(cfg.subspace_dim, a.x.shape[1], b.x.shape[1])
    va, pa = a.subspace(p)
    vb, pb = b.subspace(p)
    ma = moment_stats(pa, a.density)
    mb = moment_stats(pb, b.density)
    qs, losses = match_moments(ma, mb, cfg, rng)
    return [(va.T @ q @ vb).astype(np.float32) for q in qs], losses
