"""Score a fitted aligner on paired evaluation vectors: one row per ordered encoder pair.

Every method, baseline and oracle is scored by this one function through the `Aligner` interface, so their rows
are comparable in one table. Ranking uses `retrieval_metrics`' default centre (the target's own eval mean),
an unpaired statistic every method may use.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from vec2vec.universal.aligner import Aligner
from vec2vec.universal.data import DataError
from vec2vec.universal.metrics import retrieval_metrics

METRIC_FIELDS = (
    "n",
    "candidates",
    "min_candidates",
    "mean_cos",
    "centred_cos",
    "top1",
    "top5",
    "mean_rank",
    "foscttm",
    "csls_top1",
)


@dataclass(frozen=True)
class EvalRow:
    """One (method, src -> dst) result; metric fields as in `RetrievalMetrics`."""

    method: str
    src: str
    dst: str
    n: int
    candidates: int
    min_candidates: int
    mean_cos: float
    centred_cos: float
    top1: float
    top5: float
    mean_rank: float
    foscttm: float
    csls_top1: float
    label_free: float | None  # the method's own unsupervised score for this direction, if it has one
    fit_s: float | None  # wall seconds of the fit

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate(
    aligner: Aligner,
    eval_vectors: Mapping[str, np.ndarray],
    pairs: Sequence[tuple[str, str]] | None = None,
    block: int = 8192,
) -> list[EvalRow]:
    """Translate each `src`'s eval vectors to `dst` and rank them against `dst`'s vectors of the same texts.

    `eval_vectors` rows must be aligned across encoders (row i = one text, as `eval_pairs` gives).
    Default `pairs`: every ordered pair of the aligner's encoders.
    """
    if block < 2:
        raise DataError(f"block must be >= 2 candidates, got {block}")
    pairs = list(pairs) if pairs is not None else list(itertools.permutations(aligner.encoders, 2))
    sizes = {len(x) for x in eval_vectors.values()}
    if len(sizes) > 1:
        raise DataError(f"eval vectors are not row-aligned (row counts {sizes}); fix: build them with eval_pairs")
    label_free = aligner.fit_info.get("label_free", {})
    fit_s = aligner.fit_info.get("fit_s")
    rows = []
    for src, dst in pairs:
        missing = [e for e in (src, dst) if e not in eval_vectors]
        if missing:
            raise DataError(f"no eval vectors for {missing}; have {sorted(eval_vectors)}")
        pred = aligner.transform(eval_vectors[src], src, dst)
        m = retrieval_metrics(pred, eval_vectors[dst], block=block)
        score = label_free.get(f"{src}->{dst}")
        rows.append(
            EvalRow(
                method=aligner.kind,
                src=src,
                dst=dst,
                **{f: getattr(m, f) for f in METRIC_FIELDS},
                label_free=None if score is None else float(score),
                fit_s=None if fit_s is None else float(fit_s),
            )
        )
    return rows


COLUMNS = (
    "method",
    "src→dst",
    "candidates",
    "top-1",
    "top-5",
    "mean rank",
    "FOSCTTM",
    "CSLS top-1",
    "cos",
    "centred cos",
    "label-free",
    "fit s",
)


def row_cells(row: EvalRow) -> tuple[str, ...]:
    """`row` formatted under `COLUMNS` (shared by the CLI table and the Markdown table)."""
    cands = (
        str(row.candidates) if row.min_candidates == row.candidates else f"{row.candidates} (min {row.min_candidates})"
    )
    return (
        row.method,
        f"{row.src}→{row.dst}",
        cands,
        f"{row.top1:.3f}",
        f"{row.top5:.3f}",
        f"{row.mean_rank:.1f}",
        f"{row.foscttm:.3f}",
        f"{row.csls_top1:.3f}",
        f"{row.mean_cos:.3f}",
        f"{row.centred_cos:.3f}",
        "-" if row.label_free is None else f"{row.label_free:.3f}",
        "-" if row.fit_s is None else f"{row.fit_s:.2f}",
    )


def rows_table(rows: Sequence[EvalRow]) -> str:
    """A Markdown table of `rows` (for results files and READMEs)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row_cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"
