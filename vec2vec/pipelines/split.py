"""Deterministic splits by hashed id, and the corpus stage of the embedding job (texts + manifest).

A record's split depends only on (seed, id), never on corpus order or size, so adding texts never moves an
existing one between splits. Training-pool corpora split into `train_a` (what encoder A trains on),
`train_b` (what encoder B trains on; disjoint from train_a) and `eval` (the same texts for every encoder,
only for scoring). Evaluation corpora (`eval`, `ood` roles) go wholly to `eval`.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import pyarrow as pa

from vec2vec.corpora import Record, Role

SPLITS = ("train_a", "train_b", "eval")


@dataclass(frozen=True)
class SplitConfig:
    seed: int = 0
    eval_fraction: float = 0.1  # train_a and train_b share the rest equally
    limit: int | None = None  # keep a deterministic subsample of this many records (after cleaning)

    def __post_init__(self) -> None:
        if not 0.0 < self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in (0, 1), got {self.eval_fraction}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1, got {self.limit}")

    def as_dict(self) -> dict:
        return asdict(self)


def hashed_unit(record_id: str, seed: int, salt: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, salt, id)."""
    digest = hashlib.sha256(f"{seed}\0{salt}\0{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_split(record_id: str, role: Role, cfg: SplitConfig) -> str:
    if role != "train":
        return "eval"
    u = hashed_unit(record_id, cfg.seed, "split")
    if u < cfg.eval_fraction:
        return "eval"
    return "train_a" if u < cfg.eval_fraction + (1.0 - cfg.eval_fraction) / 2 else "train_b"


def split_records(records: list[Record], role: Role, cfg: SplitConfig) -> dict[str, list[Record]]:
    """Subsample (if `limit`) and split; each split is ordered by a seeded hash, so shards are mixed."""
    ordered = sorted(records, key=lambda r: hashed_unit(r.id, cfg.seed, "order"))
    if cfg.limit is not None:
        ordered = ordered[: cfg.limit]
    out: dict[str, list[Record]] = {s: [] for s in SPLITS}
    for rec in ordered:
        out[assign_split(rec.id, role, cfg)].append(rec)
    return out


def texts_table(records: list[Record]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([r.id for r in records], pa.string()),
            "text": pa.array([r.text for r in records], pa.string()),
            "label": pa.array([r.label for r in records], pa.string()),
            "source": pa.array([r.source for r in records], pa.string()),
        }
    )


def content_hash(records: list[Record]) -> str:
    h = hashlib.sha256()
    for r in records:
        h.update(f"{r.id}\0{r.text}\0".encode())
    return h.hexdigest()
