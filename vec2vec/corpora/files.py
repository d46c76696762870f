"""Corpora from local files (txt, jsonl, csv, parquet) and from Hugging Face `datasets` (hub ids online;
a local dataset directory offline).

References take options as a query string, e.g. `file:notes.csv?text=body&id=uid&label=topic` or
`hf:ag_news?split=test&text=text&label=label`. Defaults: columns `text`, `id` and `label`; ids default to
`<name>:<row number>`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from vec2vec.corpora.base import CorpusSpec, Record, Role

FILE_SUFFIXES = (".txt", ".jsonl", ".csv", ".parquet")


class CorpusFileError(ValueError):
    """A local corpus file is missing, of an unknown type, or malformed."""


def _split_options(ref: str) -> tuple[str, dict[str, str]]:
    base, _, query = ref.partition("?")
    return base, dict(parse_qsl(query))


def _records(rows: Iterator[dict[str, Any]], name: str, opts: dict[str, str], where: str) -> Iterator[Record]:
    text_col, id_col, label_col = opts.get("text", "text"), opts.get("id", "id"), opts.get("label", "label")
    for i, row in enumerate(rows):
        if text_col not in row:
            raise CorpusFileError(
                f"{where}: row {i} has no {text_col!r} column (columns: {', '.join(map(str, row))}); "
                f"fix: name the text column with ?text=<column>"
            )
        rid = row.get(id_col)
        label = row.get(label_col)
        yield Record(
            f"{name}:{rid if rid not in (None, '') else i}",
            "" if row[text_col] is None else str(row[text_col]),
            None if label in (None, "") else str(label),
            name,
        )


def _file_rows(path: Path) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".txt":
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                yield {"text": line.rstrip("\n")}
    elif suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise CorpusFileError(f"{path}:{n} is not valid JSON ({exc.msg}); fix the line") from exc
    elif suffix == ".csv":
        import csv

        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            yield from csv.DictReader(fh)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorpusFileError(f"{path} is not a readable Parquet file ({exc}); fix or re-export it") from exc
        yield from table.to_pylist()


def file_corpus(ref: str, role: Role = "train") -> CorpusSpec:
    base, opts = _split_options(ref.removeprefix("file:"))
    path = Path(base).expanduser()
    if not path.is_file():
        raise CorpusFileError(f"corpus file {path} does not exist")
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise CorpusFileError(f"{path}: unsupported file type; fix: use one of {', '.join(FILE_SUFFIXES)}")
    name = path.stem
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return CorpusSpec(
        name,
        role,
        f"local file {path}",
        opts.get("label", "label"),
        "user's",
        (),
        lambda: _records(_file_rows(path), name, opts, str(path)),
        version=f"sha256:{digest.hexdigest()}",
    )


def hf_corpus(ref: str, role: Role = "train") -> CorpusSpec:
    base, opts = _split_options(ref.removeprefix("hf:"))
    name = Path(base).name if Path(base).is_dir() else base.replace("/", "__")

    def rows() -> Iterator[Record]:
        import datasets

        ds = datasets.load_dataset(base, opts.get("config"), split=opts.get("split", "train"))
        return _records(iter(ds), name, opts, ref)

    return CorpusSpec(
        name,
        role,
        f"Hugging Face dataset {base} (needs internet)",
        opts.get("label", "label"),
        "see dataset card",
        (),
        rows,
    )
