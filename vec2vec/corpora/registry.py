"""Corpora by name: the bundled ones, `file:`/path and `hf:` references, and user registrations."""

from __future__ import annotations

import itertools
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


def union(parts: list[CorpusSpec], role: Role | None = None) -> CorpusSpec:
    """One corpus made of several (ids stay unique: each carries its corpus prefix)."""
    roles = {p.role for p in parts}
    if role is None and len(roles) > 1:
        raise ValueError(
            f"cannot mix roles {sorted(roles)} in {'+'.join(p.name for p in parts)}; fix: pass --role, or join "
            "corpora of one role"
        )
    return CorpusSpec(
        name="+".join(p.name for p in parts),
        role=role or roles.pop(),
        description="; ".join(p.description for p in parts),
        label_meaning="; ".join(f"{p.name}: {p.label_meaning}" for p in parts),
        license="; ".join(f"{p.name}: {p.license}" for p in parts),
        packages=tuple(dict.fromkeys(pkg for p in parts for pkg in p.packages)),
        reader=lambda: itertools.chain.from_iterable(p.records() for p in parts),
        version="+".join(p.version for p in parts if p.version),
    )


def get_corpus(ref: str, role: Role | None = None) -> CorpusSpec:
    """A registered name, `file:<path>` or a path with a known suffix, `hf:<dataset id>`, or several of
    these joined by `+` (one mixed corpus, e.g. `wordnet+news+bbc`)."""
    if "+" in ref and not ref.startswith(("file:", "hf:")):
        return union([get_corpus(part) for part in ref.split("+")], role)
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
