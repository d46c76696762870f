"""Cleaning every corpus goes through: whitespace, length bounds, duplicate texts and ids, all counted."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from vec2vec.corpora.base import Record

_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class CleanConfig:
    min_chars: int = 20  # shorter texts carry too little meaning to align on
    max_chars: int = 2000  # longer texts are cut at a word boundary (encoders truncate near here anyway)
    dedupe: bool = True  # one record per distinct text, so a text can never land in two splits

    def __post_init__(self) -> None:
        if not 0 <= self.min_chars < self.max_chars:
            raise ValueError(f"need 0 <= min_chars < max_chars, got {self.min_chars}, {self.max_chars}")


@dataclass
class CleanStats:
    read: int = 0
    too_short: int = 0
    truncated: int = 0
    duplicate_text: int = 0
    duplicate_id: int = 0
    kept: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def clean(records: Iterable[Record], cfg: CleanConfig) -> tuple[list[Record], CleanStats]:
    stats = CleanStats()
    seen_text: set[str] = set()
    seen_id: set[str] = set()
    out: list[Record] = []
    for rec in records:
        stats.read += 1
        text = _WS.sub(" ", rec.text or "").strip()
        if len(text) < cfg.min_chars:
            stats.too_short += 1
            continue
        if len(text) > cfg.max_chars:
            cut = text.rfind(" ", 0, cfg.max_chars + 1)
            text = text[: cut if cut > cfg.min_chars else cfg.max_chars]
            stats.truncated += 1
        if rec.id in seen_id:
            stats.duplicate_id += 1
            continue
        key = text.casefold()
        if cfg.dedupe and key in seen_text:
            stats.duplicate_text += 1
            continue
        seen_id.add(rec.id)
        seen_text.add(key)
        out.append(replace(rec, text=text))
    stats.kept = len(out)
    return out, stats
