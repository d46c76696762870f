"""Translate a file of embeddings with a saved translator, in bounded memory: what `vec2vec translate` runs.

A vector store can be far larger than RAM, so input is streamed in chunks (Parquet record batches, or a
memory-mapped .npy) and output is written chunk by chunk onto a temporary file that is renamed into place only
once complete: a reader never sees a half-translated store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vec2vec import __version__
from vec2vec.atomic import atomic_path
from vec2vec.pipelines.store import META_KEY, table_vectors, vectors_array
from vec2vec.universal.aligner import Aligner, unusable_rows
from vec2vec.universal.data import DataError

FORMATS = (".parquet", ".npy")


def _format(path: Path, what: str) -> str:
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise DataError(f"{what} {path} has unsupported extension {ext or '(none)'!r}; use one of {', '.join(FORMATS)}")
    return ext


class _Source:
    """Chunks `(ids, vectors)` of an input file, with its row count and width known before reading rows."""

    def __init__(self, path: Path, chunk: int) -> None:
        self.path, self.chunk = path, chunk
        self.kind = _format(path, "input")
        if not path.is_file():
            raise DataError(f"input {path} does not exist")
        try:
            if self.kind == ".npy":
                self.array = np.load(path, mmap_mode="r")
                if self.array.ndim != 2 or not np.issubdtype(self.array.dtype, np.number):
                    raise DataError(
                        f"{path} holds a {self.array.dtype} array of shape {self.array.shape}; "
                        "expected a numeric (n, dim) array of vectors"
                    )
                self.rows, self.dim = int(self.array.shape[0]), int(self.array.shape[1])
            else:
                self.file = pq.ParquetFile(path)
                schema = self.file.schema_arrow
                if "id" not in schema.names or "vector" not in schema.names:
                    raise DataError(
                        f"{path}: expected columns id, vector (as `vec2vec embed` writes); found {schema.names}"
                    )
                vtype = schema.field("vector").type
                if not pa.types.is_fixed_size_list(vtype):
                    raise DataError(f"{path}: column 'vector' must be fixed_size_list<float>, got {vtype}")
                self.rows, self.dim = int(self.file.metadata.num_rows), int(vtype.list_size)
        except (ValueError, OSError, pa.ArrowException) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{path} is corrupt or not a {self.kind} file ({exc}); fix: re-export it") from exc
        if self.rows == 0:
            raise DataError(f"{path} holds no vectors; nothing to translate")

    def chunks(self) -> Iterator[tuple[list[str], np.ndarray]]:
        try:
            if self.kind == ".npy":
                for start in range(0, self.rows, self.chunk):
                    x = np.asarray(self.array[start : start + self.chunk], dtype=np.float32)
                    yield [str(i) for i in range(start, start + len(x))], x
            else:
                for batch in self.file.iter_batches(batch_size=self.chunk, columns=["id", "vector"]):
                    table = pa.Table.from_batches([batch])
                    yield [str(i) for i in table.column("id").to_pylist()], table_vectors(table, str(self.path))
        except (ValueError, OSError, pa.ArrowException) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{self.path} is corrupt ({exc}); fix: re-export it") from exc


def _check_rows(x: np.ndarray, ids: list[str], offset: int, path: Path) -> None:
    bad = unusable_rows(x)
    if bad.any():
        first = int(np.argmax(bad))
        more = int(bad.sum()) - 1
        raise DataError(
            f"{path}: row {offset + first} (id {ids[first]!r}) is NaN/inf or all zero"
            + (f" ({more} more such rows in rows {offset}..{offset + len(x) - 1})" if more else "")
            + "; such a vector has no translation: fix: drop those rows (or re-embed those texts) and retry"
        )


def translate_file(
    aligner: Aligner,
    src: str,
    dst: str,
    input_path: str | Path,
    output_path: str | Path,
    chunk: int = 65536,
    progress: bool = True,
    translator: str = "",
) -> int:
    """Translate every row of `input_path` (`src` vectors) into `dst`'s space at `output_path`; returns rows.

    Formats by extension: Parquet (`id`, `vector` columns; ids kept, metadata names the translator, src, dst)
    or .npy (row order kept; ids are row numbers when converting to Parquet).
    """
    from tqdm.auto import tqdm

    inp, out = Path(input_path), Path(output_path)
    out_kind = _format(out, "output")
    if chunk < 1:
        raise DataError(f"chunk must be >= 1 row, got {chunk}")
    aligner.check_encoders(src, dst)
    if out.resolve() == inp.resolve():
        raise DataError(f"output {out} is the input; fix: write the translation to another file")
    source = _Source(inp, chunk)
    if source.dim != aligner.dims[src]:
        raise DataError(
            f"{inp} holds {source.dim}-d vectors but encoder {src!r} is {aligner.dims[src]}-d for this translator; "
            f"fix: pass vectors embedded by {src!r} (or the --src that made them)"
        )
    width = aligner.dims[dst]
    meta = {
        "encoder": dst,
        "translated_from": src,
        "translator": translator,
        "translator_kind": aligner.kind,
        "source_file": str(inp),
        "dim": width,
        "normalisation": "l2",
        "version": __version__,
    }
    with ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(out))
        bar = stack.enter_context(
            tqdm(total=source.rows, desc=f"{src}→{dst}", unit="vec", disable=not progress or source.rows <= chunk)
        )
        if out_kind == ".npy":
            sink = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(source.rows, width))
        else:
            schema = pa.schema([("id", pa.string()), ("vector", pa.list_(pa.float32(), width))])
            writer = stack.enter_context(
                pq.ParquetWriter(tmp, schema.with_metadata({META_KEY: json.dumps(meta).encode()}))
            )
        done = 0
        for ids, x in source.chunks():
            _check_rows(x, ids, done, inp)
            y = aligner.transform(x, src, dst)
            if out_kind == ".npy":
                sink[done : done + len(y)] = y
            else:
                table = pa.table({"id": pa.array(ids, pa.string()), "vector": vectors_array(y)}, schema=writer.schema)
                writer.write_table(table)
            done += len(y)
            bar.update(len(y))
        if done != source.rows:
            raise DataError(f"{inp} declared {source.rows} rows but gave {done}; fix: re-export it")
        if out_kind == ".npy":
            sink.flush()
            del sink
    return done
