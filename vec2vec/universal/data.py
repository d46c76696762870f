"""Read the embedding job's output as aligner training and evaluation sets.

Unsupervised methods must never see one text through two encoders, or "unpaired" training quietly becomes
paired: with two encoders, encoder 0 trains on `train_a` and encoder 1 on `train_b` (disjoint by construction
of the job's split). With N > 2 encoders, the union of `train_a` and `train_b` is cut into N disjoint parts by
a hash of the id, one part per encoder. Supervised oracles get true pairs (`train_a`, aligned by id), and
evaluation gets the `eval` split, aligned by id, for every encoder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vec2vec.pipelines.split import hashed_unit
from vec2vec.pipelines.store import CorpusLayout, Embeddings, encoder_dirname, read_embeddings

log = logging.getLogger(__name__)

TRAIN_SPLITS = ("train_a", "train_b")


class DataError(ValueError):
    """The embedding output cannot give the requested training or evaluation set; the message names the fix."""


@dataclass(frozen=True)
class EmbeddedCorpus:
    """One corpus directory of `vec2vec embed` output and its manifest."""

    layout: CorpusLayout
    manifest: dict

    @property
    def name(self) -> str:
        return self.layout.root.name

    @property
    def encoders(self) -> list[str]:
        """Encoders whose embedding finished (the job records an encoder in the manifest once it is done)."""
        return sorted(self.manifest.get("encoders", {}))

    @property
    def ref(self) -> str:
        """How the corpus was named to `vec2vec embed` (a registry name, a file path, ...)."""
        return str(self.manifest.get("corpus", {}).get("ref") or self.name)


def open_corpus(corpus_dir: str | Path) -> EmbeddedCorpus:
    """The corpus at `corpus_dir` (`<out>/<corpus>` of `vec2vec embed`), or a DataError saying what to pass."""
    root = Path(corpus_dir).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"corpus directory {root} does not exist; fix: pass <out>/<corpus> of a `vec2vec embed` run")
    layout = CorpusLayout(root)
    if not layout.manifest.is_file():
        inner = sorted(str(p.parent) for p in root.glob("*/manifest.json"))
        fix = (
            f"pass one of its corpus directories: {', '.join(inner)}"
            if inner
            else "pass <out>/<corpus> of a `vec2vec embed` run"
        )
        raise DataError(f"{root} is not a corpus directory of `vec2vec embed` output (no manifest.json); fix: {fix}")
    try:
        manifest = json.loads(layout.manifest.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{layout.manifest} is unreadable ({exc}); fix: re-run `vec2vec embed` for it") from exc
    if not isinstance(manifest, dict):
        raise DataError(f"{layout.manifest} is not a manifest object; fix: re-run `vec2vec embed` for it")
    return EmbeddedCorpus(layout, manifest)


def check_encoders(corpus: EmbeddedCorpus, encoders: Sequence[str], minimum: int = 2) -> list[str]:
    """`encoders` as a list, refusing too few, duplicates, and encoders not embedded in `corpus`."""
    encoders = list(encoders)
    if len(encoders) < minimum:
        raise DataError(f"need at least {minimum} encoders to align, got {encoders}; fix: --encoders a,b")
    dup = sorted({e for e in encoders if encoders.count(e) > 1})
    if dup:
        raise DataError(f"encoder(s) {dup} given twice; each encoder is one space: list it once")
    for enc in encoders:
        if enc not in corpus.encoders:
            raise DataError(
                f"encoder {enc!r} is not embedded in {corpus.layout.root} (embedded: {corpus.encoders or 'none'}); "
                f"fix: vec2vec embed --corpus {corpus.ref} --encoders {enc} --out {corpus.layout.root.parent} "
                "(with the same split settings)"
            )
    return encoders


def read_split(corpus: EmbeddedCorpus, encoder: str, split: str) -> Embeddings:
    """One encoder's vectors of one split; a DataError if the job wrote none."""
    path = corpus.layout.split_dir(encoder, split)
    if not any(path.glob("part-*.parquet")):
        role = corpus.manifest.get("corpus", {}).get("role")
        why = (
            f" (its role is {role!r}: only training corpora have train_a/train_b)"
            if role not in (None, "train")
            else ""
        )
        raise DataError(
            f"{corpus.layout.root} has no {split!r} vectors for encoder {encoder!r} "
            f"(nothing in {corpus.layout.root / encoder_dirname(encoder) / split}){why}; "
            "fix: use a corpus embedded with that split, or re-run `vec2vec embed` to finish it"
        )
    return read_embeddings(path)


def id_part(record_id: str, parts: int) -> int:
    """Which of `parts` encoders may train on this text: fixed by the id alone, so reruns agree."""
    return int(hashed_unit(record_id, 0, "encoder-part") * parts)


def _subsample(emb: Embeddings, limit: int | None, rng: np.random.Generator) -> Embeddings:
    if limit is None or len(emb.ids) <= limit:
        return emb
    keep = np.sort(rng.choice(len(emb.ids), size=limit, replace=False))
    return Embeddings(emb.ids[keep], emb.vectors[keep], emb.meta)


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 2:
        raise DataError(f"limit must be >= 2 vectors per encoder, got {limit}")


def training_sets(
    corpus_dir: str | Path, encoders: Sequence[str], limit: int | None, rng: np.random.Generator
) -> dict[str, Embeddings]:
    """Unpaired training vectors with their ids: no text is given to two encoders (see the module docstring)."""
    _check_limit(limit)
    corpus = open_corpus(corpus_dir)
    encoders = check_encoders(corpus, encoders)
    out: dict[str, Embeddings] = {}
    for i, enc in enumerate(encoders):
        if len(encoders) == 2:
            emb = read_split(corpus, enc, TRAIN_SPLITS[i])
        else:
            kept = []
            for split in TRAIN_SPLITS:
                part = read_split(corpus, enc, split)
                mine = np.fromiter((id_part(x, len(encoders)) == i for x in part.ids), bool, len(part.ids))
                kept.append(Embeddings(part.ids[mine], part.vectors[mine], part.meta))
            emb = Embeddings(
                np.concatenate([k.ids for k in kept]), np.concatenate([k.vectors for k in kept]), kept[0].meta
            )
        if len(emb.ids) < 2:
            raise DataError(
                f"encoder {enc!r} gets {len(emb.ids)} training vectors from {corpus.layout.root}; "
                "fix: embed more texts of this corpus (or align fewer encoders)"
            )
        out[enc] = _subsample(emb, limit, rng)
    return out


def training_spaces(
    corpus_dir: str | Path, encoders: Sequence[str], limit: int | None, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Unpaired training vectors `{encoder: (n_i, dim_i)}` for `Aligner.fit`; `limit` subsamples each side."""
    return {enc: emb.vectors for enc, emb in training_sets(corpus_dir, encoders, limit, rng).items()}


def _aligned(
    corpus: EmbeddedCorpus, encoders: list[str], split: str, minimum: int = 2
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, int]]:
    """Rows of `split` present for every encoder, in the first encoder's order; and how many each lost."""
    sets = {enc: read_split(corpus, enc, split) for enc in encoders}
    common = set(sets[encoders[0]].ids.tolist())
    for emb in sets.values():
        common &= set(emb.ids.tolist())
    ids = np.asarray([i for i in sets[encoders[0]].ids.tolist() if i in common], dtype=object)
    if len(ids) < minimum:
        raise DataError(
            f"only {len(ids)} {split!r} texts of {corpus.layout.root} are embedded by every one of {encoders}; "
            "fix: embed more texts, or check that the encoders did not drop most rows (see manifest.json)"
        )
    vectors = {}
    for enc, emb in sets.items():
        index = {x: k for k, x in enumerate(emb.ids.tolist())}
        vectors[enc] = emb.vectors[[index[i] for i in ids.tolist()]]
    dropped = {enc: len(emb.ids) - len(ids) for enc, emb in sets.items()}
    return ids, vectors, dropped


def paired_training_spaces(
    corpus_dir: str | Path, encoders: Sequence[str], limit: int | None, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """True pairs for the supervised oracles: `train_a` rows embedded by every encoder, row i = one text.

    `limit` keeps the same random `limit` texts for every encoder.
    """
    _check_limit(limit)
    corpus = open_corpus(corpus_dir)
    encoders = check_encoders(corpus, encoders)
    ids, vectors, _ = _aligned(corpus, encoders, "train_a")
    if limit is not None and len(ids) > limit:
        keep = np.sort(rng.choice(len(ids), size=limit, replace=False))
        vectors = {enc: x[keep] for enc, x in vectors.items()}
    return vectors


def eval_pairs(corpus_dir: str | Path, encoders: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The `eval` split of each encoder aligned by id: `(ids, {encoder: (n, dim)})`, row i = one text.

    A text some encoder could not embed is dropped for all (logged with the counts), since a pair needs both.
    """
    corpus = open_corpus(corpus_dir)
    encoders = check_encoders(corpus, encoders, minimum=1)
    ids, vectors, dropped = _aligned(corpus, encoders, "eval")
    if any(dropped.values()):
        log.warning(
            "%s eval: %d texts kept; dropped texts not embedded by every encoder: %s",
            corpus.name,
            len(ids),
            ", ".join(f"{enc} {n}" for enc, n in dropped.items() if n),
        )
    return ids, vectors
