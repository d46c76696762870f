"""Refinement of a rough orthogonal map between two centred frames, with no pairs.

Two stages. The first is from the mini-vec2vec / MUSE line of work, with the changes that made it converge
from a rough start here (feasibility study: 0.88 top-1 from a start of FOSCTTM 0.22, against 0.67 for the published
refinement):
1. Soft iterative closest points: map a batch of source points, average each one's k best target neighbours
   under CSLS (which discounts hub targets), fit Procrustes to those averages and move part of the way there,
   keeping the map orthogonal. k shrinks over the schedule: wide averages first (robust to a poor start), then
   sharp ones.
2. Wasserstein-Procrustes (Grave et al. 2019): an entropic transport plan between mini-batches instead of hard
   neighbour pairs, its cross-covariance averaged over batches, Procrustes on the average. Every point contributes,
   so it converges where MUSE's mutual-nearest-neighbour Procrustes rounds crawl: measured on E5->USE from a
   soft-ICP map at top-1 0.205, four mutual-NN rounds (51 s) reached 0.350, while 30 batches at memory 0.5 then 50
   at memory 0.9 (59 s) reached 0.924 (oracle 0.984). Mutual-NN rounds after it lowered top-1 (0.921 -> 0.904), so
   that stage is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ot
import torch

from vec2vec.universal.linear import polar, procrustes
from vec2vec.universal.neighbours import mean_top_k, top_k


@dataclass(frozen=True)
class RefineConfig:
    schedule: tuple[tuple[int, int], ...] = ((50, 40), (20, 30), (5, 30))  # (neighbours averaged, iterations)
    batch: int = 1000  # source points per iteration
    targets: int = 10000  # target points searched
    damping: float = 0.5  # step towards each new Procrustes fit
    csls_k: int = 10
    hub_every: int = 10  # iterations between re-estimates of the targets' hub penalty
    # Wasserstein-Procrustes: (memory, batches) phases; memory is the weight of the running cross-covariance
    # against each new batch's. Low memory moves fast, high memory averages more batches (less noise). Empty: off.
    transport_schedule: tuple[tuple[float, int], ...] = ()
    transport_sample: int = 3000  # points a side in each batch
    transport_epsilon: float = 0.02  # entropic regularisation on cosine cost (0.05 stalled, measured)
    # Sinkhorn iterations per batch. 30, not 100: measured on MiniLM/USE batches, the cross-covariance moves by 0.4 %
    # between 30 and 300 iterations while two batches differ by 33 %, and three USE->WordLlama converge blocks
    # gave the same top-1 (0.257, 0.409, 0.533) in 20 s a block instead of 33 s.
    transport_iterations: int = 30

    def __post_init__(self) -> None:
        if not 0 < self.damping <= 1:
            raise ValueError(f"damping must be in (0, 1] (1: move all the way to each new fit), got {self.damping}")
        if any(len(phase) != 2 or phase[1] < 1 for phase in self.transport_schedule):
            raise ValueError(
                f"each transport_schedule phase is (memory, batches) with batches >= 1, got {self.transport_schedule}"
            )
        memories = [m for m, _ in self.transport_schedule]
        if self.transport_schedule and not (
            self.transport_epsilon > 0 and self.transport_sample >= 2 and all(0 <= m < 1 for m in memories)
        ):
            raise ValueError(
                "the transport stage needs transport_epsilon > 0, transport_sample >= 2 and every memory in [0, 1)"
                f", got {self.transport_epsilon}, {self.transport_sample}, {memories}"
            )


@dataclass(frozen=True)
class DenseTransportConfig:
    """Transport refinement on one plan between (up to) every training vector a side: the fit's last step.

    Why: where transport refinement settles depends on how dense its plans are. A plan matches each source vector
    with target vectors of *other* texts, and the sparser the sample, the farther those lie from its meaning, which
    bends the cross-covariance. Transport alone, started at the oracle map on MiniLM/WordLlama, settled at top-1
    0.740 / 0.833 with batches of 3,000 points a side, 0.749 / 0.840 with 6,000, 0.775 / 0.865 with 12,000 (oracle
    0.850 / 0.923). One plan between all vectors is the densest there is, and the same every step, so the steps
    need no averaging over batches.
    """

    sample: int = 25000  # points a side (all where fewer); one n x m float32 kernel: 2.5 GB at 25,000
    steps: int = 8  # fixed-point steps: Procrustes on the plan's cross-covariance, then a new plan
    epsilon: float = 0.02
    iterations: int = 30  # Sinkhorn iterations per plan

    def __post_init__(self) -> None:
        if self.sample < 2 or self.steps < 1 or self.epsilon <= 0 or self.iterations < 1:
            raise ValueError(
                "dense transport needs sample >= 2, steps >= 1, epsilon > 0 and iterations >= 1, got "
                f"{self.sample}, {self.steps}, {self.epsilon}, {self.iterations}"
            )


def _sample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= n else x[rng.choice(len(x), n, replace=False)]


def soft_icp(xa: np.ndarray, xb: np.ndarray, w: np.ndarray, cfg: RefineConfig, rng: np.random.Generator) -> np.ndarray:
    targets = _sample(xb, cfg.targets, rng)
    for k, iterations in cfg.schedule:
        k = min(k, len(targets) - 1)
        for it in range(iterations):
            if it % cfg.hub_every == 0:
                hub = mean_top_k(targets @ (_sample(xa, 4 * cfg.batch, rng) @ w).T, cfg.csls_k)
            xs = _sample(xa, cfg.batch, rng)
            score = 2 * (xs @ w) @ targets.T - hub[None, :]
            nearest = top_k(score, k)[1]
            w = polar((1 - cfg.damping) * w + cfg.damping * procrustes(xs, targets[nearest].mean(axis=1)))
    return w


def wasserstein_procrustes(
    xa: np.ndarray, xb: np.ndarray, w: np.ndarray, cfg: RefineConfig, rng: np.random.Generator
) -> np.ndarray:
    """Procrustes on the transport plans' cross-covariance, averaged over batches so one batch's noise cannot undo
    the map (a plan is soft: every point of a batch is matched, in proportion, to every other)."""
    cross = None
    for memory, rounds in cfg.transport_schedule:
        for _ in range(rounds):
            sa, sb = _sample(xa, cfg.transport_sample, rng), _sample(xb, cfg.transport_sample, rng)
            cost = 1.0 - (sa @ w) @ sb.T
            cost -= cost.min(axis=1, keepdims=True)  # the plan is unchanged; float32 no longer underflows
            mass_a, mass_b = ot.unif(len(sa), type_as=cost), ot.unif(len(sb), type_as=cost)
            plan = ot.sinkhorn(
                mass_a, mass_b, cost, cfg.transport_epsilon, numItermax=cfg.transport_iterations, warn=False
            )
            batch = sa.T @ plan @ sb
            cross = batch if cross is None else memory * cross + (1 - memory) * batch
            w = polar(cross)
    return w


def transport_cross_covariance(
    xa: torch.Tensor, xb: torch.Tensor, w: np.ndarray, epsilon: float, iterations: int
) -> np.ndarray:
    """xa^T P xb for the entropic plan P (uniform marginals, cosine cost) between `xa @ w` and `xb`.

    The same plan as POT's `ot.sinkhorn` (tests check it), computed with one n x m float32 array: P = diag(u) K
    diag(v), so the cross-covariance needs only the scalings and the kernel, never the plan or the cost beside it
    (POT's call holds three n x m arrays, 7.5 GB at 25,000 a side).
    """
    kernel = torch.from_numpy(xa.numpy() @ w) @ xb.T  # cosine similarity, then the kernel in place
    kernel -= kernel.max(dim=1, keepdim=True).values  # each row's best match costs 0: float32 does not underflow
    kernel.div_(epsilon).exp_()
    n, m = kernel.shape
    u = torch.full((n,), 1.0 / n)
    for _ in range(iterations):
        v = (1.0 / m) / (kernel.T @ u).clamp_min(1e-30)  # a column far from every row must not divide by 0
        u = (1.0 / n) / (kernel @ v)
    return ((xa * u[:, None]).T @ (kernel @ (xb * v[:, None]))).double().numpy()


def dense_transport(
    xa: np.ndarray, xb: np.ndarray, w: np.ndarray, cfg: DenseTransportConfig, rng: np.random.Generator
) -> np.ndarray:
    """`cfg.steps` Procrustes steps on the transport plan between (up to `cfg.sample`) all points a side."""
    sa, sb = (torch.from_numpy(np.ascontiguousarray(_sample(x, cfg.sample, rng))) for x in (xa, xb))
    for _ in range(cfg.steps):
        w = polar(transport_cross_covariance(sa, sb, w, cfg.epsilon, cfg.iterations))
    return w


def refine(xa: np.ndarray, xb: np.ndarray, w: np.ndarray, cfg: RefineConfig, rng: np.random.Generator) -> np.ndarray:
    """Refine map `w` (d_a, d_b) from framed source vectors `xa` to framed target vectors `xb` (unpaired)."""
    return wasserstein_procrustes(xa, xb, soft_icp(xa, xb, w, cfg, rng), cfg, rng)
