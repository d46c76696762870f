"""On-disk layout of embedded corpora, and safe reading of embedding Parquet files.

    <out>/<corpus>/manifest.json                 splits, counts, seed, hashes, per-encoder results
    <out>/<corpus>/texts/<split>.parquet         id, text, label, source
    <out>/<corpus>/<encoder>/<split>/part-NNNNN.parquet
                                                 id, vector (fixed_size_list<float32>[dim]); file metadata
                                                 under key b"vec2vec": encoder, dim, normalisation, corpus,
                                                 split, shard, version, dropped ids

Shard files are written whole (temp file + rename), so a file that exists is complete.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vec2vec import __version__
from vec2vec.atomic import atomic_path

META_KEY = b"vec2vec"


class EmbeddingFileError(ValueError):
    """An embedding file or dataset is unreadable, inconsistent, or holds invalid vectors."""


def encoder_dirname(name: str) -> str:
    """Filesystem-safe directory name for an encoder reference like `st:org/model` or `clip:RN50:x`."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    if safe == name:
        return name
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def vectors_array(x: np.ndarray) -> pa.FixedSizeListArray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), pa.float32()), x.shape[1])


def write_embeddings(path: Path, ids: list[str], x: np.ndarray, meta: dict) -> None:
    """Atomically write one embedding Parquet file (plain Arrow types: readable without vec2vec)."""
    if len(ids) != len(x) or x.ndim != 2:
        raise ValueError(f"ids ({len(ids)}) and vectors {x.shape} disagree")
    table = pa.table({"id": pa.array(ids, pa.string()), "vector": vectors_array(x)})
    meta = {**meta, "dim": int(x.shape[1]), "rows": len(ids), "version": __version__}
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_meta(path: Path) -> dict:
    try:
        raw = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError) as exc:
        raise EmbeddingFileError(f"{path} is not a readable Parquet file ({exc}); delete it and re-embed") from exc
    if META_KEY not in raw:
        raise EmbeddingFileError(f"{path} has no vec2vec metadata; it was not written by `vec2vec embed`")
    return json.loads(raw[META_KEY])


@dataclass
class Embeddings:
    ids: np.ndarray  # (n,) object array of str
    vectors: np.ndarray  # (n, dim) float32
    meta: dict

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def table_vectors(table: pa.Table, where: str) -> np.ndarray:
    """The `vector` column as a float32 (n, dim) array; `where` names the source in errors."""
    if "vector" not in table.column_names or "id" not in table.column_names:
        raise EmbeddingFileError(f"{where}: expected columns id, vector; found {table.column_names}")
    col = table.column("vector").combine_chunks()
    if not pa.types.is_fixed_size_list(col.type):
        raise EmbeddingFileError(f"{where}: column 'vector' must be fixed_size_list<float>, got {col.type}")
    return col.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(col), col.type.list_size)


def read_embeddings(path: str | Path) -> Embeddings:
    """Read an embedding file, or a directory of shard files, checking width and values.

    Raises EmbeddingFileError naming the file and the fix for: unreadable files, shards of different widths,
    and NaN/inf or zero-norm rows.
    """
    path = Path(path)
    files = sorted(path.glob("part-*.parquet")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise EmbeddingFileError(f"no embedding files at {path}; fix: run `vec2vec embed` first")
    ids: list[np.ndarray] = []
    vecs: list[np.ndarray] = []
    meta: dict = {}
    for f in files:
        meta_f = read_meta(f)
        try:
            table = pq.read_table(f)
        except (pa.ArrowInvalid, OSError) as exc:
            raise EmbeddingFileError(f"{f} is corrupt ({exc}); delete it and re-run `vec2vec embed`") from exc
        x = table_vectors(table, str(f))
        if meta and x.shape[1] != meta["dim"]:
            raise EmbeddingFileError(
                f"{f} holds {x.shape[1]}-d vectors but {files[0]} holds {meta['dim']}-d; a dataset must "
                "have one width: delete the stray file"
            )
        meta = meta or meta_f
        ids.append(np.asarray(table.column("id").to_pylist(), dtype=object))
        vecs.append(x)
    x = np.concatenate(vecs)
    norms = np.linalg.norm(x, axis=1)
    bad = ~np.isfinite(norms) | (norms == 0)
    if bad.any():
        raise EmbeddingFileError(
            f"{path}: {int(bad.sum())} rows are NaN/inf or zero (first index {int(np.argmax(bad))}); "
            "fix: drop those rows or re-embed"
        )
    return Embeddings(np.concatenate(ids), x, meta)


@dataclass(frozen=True)
class CorpusLayout:
    root: Path  # <out>/<corpus>

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def texts(self, split: str) -> Path:
        return self.root / "texts" / f"{split}.parquet"

    def split_dir(self, encoder: str, split: str) -> Path:
        return self.root / encoder_dirname(encoder) / split

    def shard(self, encoder: str, split: str, k: int) -> Path:
        return self.split_dir(encoder, split) / f"part-{k:05d}.parquet"
