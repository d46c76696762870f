"""Corpora by name: the bundled ones, `file:`/path and `hf:` references, and user registrations."""

from __future__ import annotations

from pathlib import Path

from vec2vec.corpora.base import CorpusSpec, Role
from vec2vec.corpora.builtin import BUILTIN_CORPORA
from vec2vec.corpora.files import FILE_SUFFIXES, file_corpus, hf_corpus

_USER: dict[str, CorpusSpec] = {}


class UnknownCorpus(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register_corpus(spec: CorpusSpec) -> None:
    if spec.name in BUILTIN_CORPORA:
        raise ValueError(f"{spec.name!r} is a built-in corpus; pick another name")
    _USER[spec.name] = spec


def corpora() -> dict[str, CorpusSpec]:
    return {**BUILTIN_CORPORA, **_USER}


def get_corpus(ref: str, role: Role | None = None) -> CorpusSpec:
    """A registered name, `file:<path>` or a path with a known suffix, or `hf:<dataset id>`."""
    known = corpora()
    if ref in known:
        spec = known[ref]
        return spec if role in (None, spec.role) else CorpusSpec(**{**spec.__dict__, "role": role})
    if ref.startswith("hf:"):
        return hf_corpus(ref, role or "train")
    if ref.startswith("file:") or Path(ref.split("?")[0]).suffix.lower() in FILE_SUFFIXES:
        return file_corpus(ref, role or "train")
    raise UnknownCorpus(
        f"unknown corpus {ref!r}; known: {', '.join(known)}; or a local file "
        f"({', '.join(FILE_SUFFIXES)}) or hf:<dataset id>"
    )
