"""Paired retrieval metrics for translated embeddings, computed in candidate blocks.

Row i of `pred` (translated source vectors) and row i of `target` (the target encoder's vectors of the same
text) are a true pair. Each block of `block` consecutive rows is one candidate set: every prediction is ranked
against all targets of its block, so a metric is only meaningful next to its candidate-set size, which every
result carries. Ranking uses centred cosine (both sides minus the target mean), which, unlike raw cosine, is not
inflated by an anisotropic target space; raw cosine is reported beside it.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

from vec2vec.universal.neighbours import mean_top_k


@dataclass(frozen=True)
class RetrievalMetrics:
    n: int  # pairs scored
    candidates: int  # candidate-set size (block size, or n if smaller)
    min_candidates: int  # the last block's size when n is not a multiple of the block
    mean_cos: float  # raw cosine of each prediction with its true target
    centred_cos: float  # the same after subtracting the target mean from both
    top1: float
    top5: float
    mean_rank: float  # 1 = always ranked first
    foscttm: float  # fraction of candidates closer than the true match, both directions; 0 best, 0.5 chance
    csls_top1: float  # top-1 under CSLS (k=10), which discounts hub targets

    def as_dict(self) -> dict:
        return asdict(self)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _block_stats(p: np.ndarray, t: np.ndarray, csls_k: int) -> tuple[np.ndarray, ...]:
    sim = p @ t.T  # (m, m), rows: predictions, columns: candidates
    true = np.diag(sim)
    m = len(sim)
    rank = 1 + (sim > true[:, None]).sum(axis=1)  # 1-based rank of the true target
    closer_cols = (sim > true[None, :]).sum(axis=0)  # for each target: predictions closer than its own
    fosc = ((rank - 1) + closer_cols) / (2 * max(m - 1, 1))
    k = min(csls_k, m)
    r_p, r_t = mean_top_k(sim, k, axis=1), mean_top_k(sim, k, axis=0)
    csls = 2 * sim - r_p[:, None] - r_t[None, :]
    csls_hit = np.argmax(csls, axis=1) == np.arange(m)
    return rank, fosc, csls_hit


def retrieval_metrics(
    pred: np.ndarray, target: np.ndarray, block: int = 8192, centre: np.ndarray | None = None, csls_k: int = 10
) -> RetrievalMetrics:
    """Score `pred` against `target` (paired by row) in candidate blocks of `block` rows.

    `centre` is the target-space mean used for centred cosine and ranking; by default the mean of `target`
    (an unpaired statistic of the candidate set).
    """
    pred = np.asarray(pred, dtype=np.float32)
    target = np.asarray(target, dtype=np.float32)
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"pred {pred.shape} and target {target.shape} must be the same (n, dim) shape")
    if len(pred) < 2:
        raise ValueError("need at least 2 pairs to rank")
    if not (np.isfinite(pred).all() and np.isfinite(target).all()):
        raise ValueError("pred or target holds NaN/inf rows; drop them before scoring")
    mu = target.mean(axis=0) if centre is None else np.asarray(centre, dtype=np.float32)
    raw = np.einsum("nd,nd->n", _unit(pred), _unit(target))
    pc, tc = _unit(pred - mu), _unit(target - mu)
    centred = np.einsum("nd,nd->n", pc, tc)
    size = min(block, len(pred))
    bounds = [*range(0, len(pred), size), len(pred)]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < 2:  # a 1-row tail cannot be ranked: fold it in
        bounds.pop(-2)
    ranks, foscs, csls = [], [], []
    for start, stop in itertools.pairwise(bounds):
        r, f, c = _block_stats(pc[start:stop], tc[start:stop], csls_k)
        ranks.append(r)
        foscs.append(f)
        csls.append(c)
    rank = np.concatenate(ranks)
    return RetrievalMetrics(
        n=len(pred),
        candidates=size,
        min_candidates=min(b - a for a, b in itertools.pairwise(bounds)),
        mean_cos=float(raw.mean()),
        centred_cos=float(centred.mean()),
        top1=float((rank == 1).mean()),
        top5=float((rank <= 5).mean()),
        mean_rank=float(rank.mean()),
        foscttm=float(np.concatenate(foscs).mean()),
        csls_top1=float(np.concatenate(csls).mean()),
    )
