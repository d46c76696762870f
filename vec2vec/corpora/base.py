"""Uniform corpus records and the spec a registered corpus is described by."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from vec2vec.corpora.packages import DataPackage

# train: the unpaired training pool (split into train_a / train_b / eval);
# eval: in-distribution evaluation only; ood: out-of-distribution evaluation only. eval/ood never train.
Role = Literal["train", "eval", "ood"]


@dataclass(frozen=True)
class Record:
    id: str
    text: str
    label: str | None
    source: str


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    role: Role
    description: str
    label_meaning: str
    license: str
    packages: tuple[DataPackage, ...]
    reader: Callable[[], Iterator[Record]] = field(repr=False)
    version: str = ""  # identifies the source data (a file hash); built-ins are pinned by their packages

    @property
    def source_id(self) -> str:
        """Changes whenever the underlying texts may have changed; stored in every job manifest."""
        return "+".join([p.label for p in self.packages] + ([self.version] if self.version else []))

    @property
    def installed(self) -> bool:
        return all(p.installed() for p in self.packages)

    def fetch(self) -> list[str]:
        """Fetch missing data packages; returns the labels of those fetched."""
        return [p.label for p in self.packages if p.fetch()]

    def records(self) -> Iterator[Record]:
        return self.reader()
