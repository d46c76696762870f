"""The embedding job: corpus -> cleaned, split texts -> per-encoder Ray Data actor pools -> Parquet shards.

Resumable by construction: each (encoder, split) is cut into fixed shards of the split's hash-ordered
texts, a shard is written whole (temp + rename) once all its rows are back, and a rerun skips every shard
file that exists. Killing the job loses at most the shards in flight.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vec2vec import __version__
from vec2vec.atomic import atomic_path, remove_stale_temps, write_json
from vec2vec.corpora import CleanConfig, DataMissing, Role, clean, get_corpus
from vec2vec.encoders import CORE, Encoder, get_encoders
from vec2vec.encoders.base import invalid_rows
from vec2vec.pipelines.split import SPLITS, SplitConfig, content_hash, split_records, texts_table
from vec2vec.pipelines.store import (
    CorpusLayout,
    EmbeddingFileError,
    encoder_dirname,
    read_meta,
    table_vectors,
    vectors_array,
    write_embeddings,
)
from vec2vec.runtime import init_ray


class EmptyCorpus(ValueError):
    """A corpus had no usable texts."""


class OutputMismatch(ValueError):
    """The output directory holds a different job's results (other split settings, model or width)."""


@dataclass(frozen=True)
class EmbedConfig:
    corpora: tuple[str, ...] = ("wordnet",)
    encoders: tuple[str, ...] = CORE
    out: str = "runs/embeddings"
    role: Role | None = None  # override a corpus's role (e.g. treat a local file as evaluation-only)
    split: SplitConfig = field(default_factory=SplitConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    shard_size: int = 1024  # rows per Parquet shard: the unit of resume
    batch_size: int = 128  # rows per encoder call (Ray Data batch)
    concurrency: int | None = None  # encoder actors per encoder; None: cluster CPUs // cpus_per_actor
    cpus_per_actor: int = 1  # CPUs (and threads) each encoder actor gets
    ray_address: str | None = None  # None: RAY_ADDRESS, else a local Ray

    def __post_init__(self) -> None:
        for name in ("shard_size", "batch_size", "cpus_per_actor"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")


@dataclass
class EncoderResult:
    """What one (corpus, encoder) holds after the job, and what this run added."""

    corpus: str
    encoder: str
    dim: int
    rows: dict[str, int]  # vectors stored, per split
    dropped: dict[str, int]  # texts the encoder could not embed, per split
    embedded_now: int  # texts encoded by this run (0 when everything was already there)
    seconds: float

    @property
    def texts_per_s(self) -> float:
        return self.embedded_now / self.seconds if self.embedded_now else 0.0


# --- corpus stage ------------------------------------------------------------------------------------------
def prepare_corpus(ref: str, cfg: EmbedConfig) -> tuple[CorpusLayout, dict]:
    """Clean, split and store a corpus's texts with a manifest; reuse them if already prepared identically."""
    spec = get_corpus(ref, cfg.role)
    layout = CorpusLayout(Path(cfg.out).resolve() / spec.name)
    settings = {
        "corpus": ref,
        "source": spec.source_id,
        "role": spec.role,
        "split": cfg.split.as_dict(),
        "clean": asdict(cfg.clean),
    }
    if layout.manifest.is_file():
        manifest = json.loads(layout.manifest.read_text())
        if manifest["settings"] != settings:
            changed = sorted(k for k in settings if manifest["settings"].get(k) != settings[k])
            raise OutputMismatch(
                f"{layout.root} was prepared with other {', '.join(changed)} ({manifest['settings']}); the corpus "
                "or split settings changed since: fix: use another --out, or delete that directory"
            )
        if all(layout.texts(s).is_file() for s in SPLITS):
            return layout, manifest
    if not spec.installed:
        missing = [p.label for p in spec.packages if not p.installed()]
        raise DataMissing(f"corpus {spec.name!r} needs {', '.join(missing)}; fix: vec2vec corpora fetch {spec.name}")
    records, stats = clean(spec.records(), cfg.clean)
    if not records:
        raise EmptyCorpus(
            f"corpus {ref!r} has no usable texts ({stats.as_dict()}); fix: check the file or lower --min-chars"
        )
    splits = split_records(records, spec.role, cfg.split)
    for split, recs in splits.items():
        with atomic_path(layout.texts(split)) as tmp:
            pq.write_table(texts_table(recs), tmp)
    manifest = {
        "version": __version__,
        "corpus": {
            "name": spec.name,
            "ref": ref,
            "role": spec.role,
            "description": spec.description,
            "labels": spec.label_meaning,
            "license": spec.license,
        },
        "settings": settings,
        "cleaning": stats.as_dict(),
        "splits": {s: {"rows": len(r), "sha256": content_hash(r)} for s, r in splits.items()},
        "encoders": {},
    }
    write_json(layout.manifest, manifest)
    return layout, manifest


# --- encoder stage -----------------------------------------------------------------------------------------
class EncodeBatch:
    """Ray Data actor: one loaded encoder, called on batches of texts."""

    def __init__(self, encoder: Encoder, threads: int, batch_size: int) -> None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # read by cpu_threads() when the model loads
        self.encoder, self.batch_size = encoder, batch_size
        self.encoder.load()

    def __call__(self, batch: pa.Table) -> pa.Table:
        x = self.encoder.encode(batch.column("text").to_pylist(), self.batch_size)
        return pa.table(
            {
                "split": batch.column("split"),
                "shard": batch.column("shard"),
                "id": batch.column("id"),
                "vector": vectors_array(x),
            }
        )


def _check_existing(
    layout: CorpusLayout, enc: Encoder, manifest: dict
) -> tuple[dict[tuple[str, int], dict], int | None]:
    """Metadata of finished shards (by split, shard) and their common width; raises on another model's files."""
    done: dict[tuple[str, int], dict] = {}
    dims = set()
    for split in SPLITS:
        d = layout.split_dir(enc.name, split)
        remove_stale_temps(d)
        for path in sorted(d.glob("part-*.parquet")):
            meta = read_meta(path)
            if meta.get("fingerprint") != enc.fingerprint:
                raise OutputMismatch(
                    f"{path} was made by {meta.get('fingerprint')!r}, not {enc.fingerprint!r}; "
                    "fix: use another --out or another encoder name"
                )
            if meta.get("split_sha256") != manifest["splits"][split]["sha256"]:
                raise OutputMismatch(f"{path} belongs to another version of this split; delete {d} and rerun")
            dims.add(meta["dim"])
            done[(split, meta["shard"])] = meta
    if len(dims) > 1:
        raise EmbeddingFileError(f"{layout.root / enc.name} mixes widths {sorted(dims)}; delete it and re-embed")
    return done, dims.pop() if dims else None


def _pending_table(layout: CorpusLayout, manifest: dict, done: dict, shard_size: int) -> pa.Table:
    parts = []
    for split in SPLITS:
        texts = pq.read_table(layout.texts(split), columns=["id", "text"])
        for k in range(math.ceil(len(texts) / shard_size)):
            if (split, k) not in done:
                part = texts.slice(k * shard_size, shard_size)
                parts.append(
                    part.append_column("split", pa.array([split] * len(part), pa.string())).append_column(
                        "shard", pa.array([k] * len(part), pa.int32())
                    )
                )
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("split", pa.string()), ("shard", pa.int32())])
    return pa.concat_tables(parts) if parts else schema.empty_table()


def embed_encoder(
    layout: CorpusLayout,
    manifest: dict,
    enc: Encoder,
    cfg: EmbedConfig,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Embed every unfinished shard of every split of one corpus with one encoder; rows embedded per split."""
    import ray
    import ray.data

    done, known_dim = _check_existing(layout, enc, manifest)
    pending = _pending_table(layout, manifest, done, cfg.shard_size)
    expected: dict[tuple[str, int], int] = defaultdict(int)
    for split, shard in zip(pending.column("split").to_pylist(), pending.column("shard").to_pylist(), strict=True):
        expected[(split, shard)] += 1
    embedded = {s: sum(n for (split, _), n in expected.items() if split == s) for s in SPLITS}
    if len(pending) == 0:
        return embedded
    init_ray(cfg.ray_address)  # only now: a rerun with nothing left to do never starts Ray
    cpus = int(ray.cluster_resources().get("CPU", 1))
    actors = cfg.concurrency or max(1, cpus // cfg.cpus_per_actor)
    # Blocks: enough to keep every actor busy, and no bigger than a shard, so shards (the unit of resume and
    # progress) complete steadily instead of after a whole oversized block.
    per_actor = math.ceil(len(pending) / (4 * actors))
    block = max(cfg.batch_size, min(per_actor, cfg.shard_size) // cfg.batch_size * cfg.batch_size)
    blocks = [pending.slice(i, block) for i in range(0, len(pending), block)]
    actors = min(actors, len(blocks))
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # shards complete in order: bounded driver memory
    ds = ray.data.from_arrow(blocks).map_batches(
        EncodeBatch,
        fn_constructor_kwargs={"encoder": enc, "threads": cfg.cpus_per_actor, "batch_size": cfg.batch_size},
        batch_size=cfg.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cfg.cpus_per_actor,
    )
    buffers: dict[tuple[str, int], list[pa.Table]] = defaultdict(list)
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        assert isinstance(batch, pa.Table)
        width = batch.schema.field("vector").type.list_size
        if known_dim is not None and width != known_dim:
            raise OutputMismatch(
                f"{enc.name} now gives {width}-d vectors but {layout.root / enc.name} holds {known_dim}-d ones; "
                "a dataset must have one width: fix: use another --out or another encoder name"
            )
        known_dim = width
        for key in set(zip(batch.column("split").to_pylist(), batch.column("shard").to_pylist(), strict=True)):
            mask = pc.and_(pc.equal(batch.column("split"), key[0]), pc.equal(batch.column("shard"), key[1]))
            part = batch.filter(mask)
            buffers[key].append(part)
            counts[key] += len(part)
            if counts[key] == expected[key]:
                _write_shard(layout, manifest, enc, key, pa.concat_tables(buffers.pop(key)))
        if progress:
            progress(len(batch))
    return embedded


def _write_shard(layout: CorpusLayout, manifest: dict, enc: Encoder, key: tuple[str, int], table: pa.Table) -> None:
    split, shard = key
    x = table_vectors(table, f"{enc.name} output for {split} shard {shard}")
    ids = np.asarray(table.column("id").to_pylist(), dtype=object)
    bad = invalid_rows(x)
    meta = {
        "encoder": enc.name,
        "fingerprint": enc.fingerprint,
        "family": enc.family,
        "normalisation": "l2",
        "corpus": manifest["corpus"]["name"],
        "split": split,
        "shard": shard,
        "split_sha256": manifest["splits"][split]["sha256"],
        "rows_in": len(ids),
        "dropped_ids": ids[bad].tolist(),
    }
    write_embeddings(layout.shard(enc.name, split, shard), ids[~bad].tolist(), x[~bad], meta)


def summarise_encoder(layout: CorpusLayout, enc: Encoder) -> dict:
    """Per-split totals, read back from the shard files (the single source of truth)."""
    out: dict = {"fingerprint": enc.fingerprint, "family": enc.family, "dir": encoder_dirname(enc.name), "splits": {}}
    for split in SPLITS:
        metas = [read_meta(p) for p in sorted(layout.split_dir(enc.name, split).glob("part-*.parquet"))]
        dropped = [i for m in metas for i in m["dropped_ids"]]
        out["splits"][split] = {
            "rows": sum(m["rows"] for m in metas),
            "dropped_invalid": len(dropped),
            "dropped_ids": dropped[:100],
            "shards": len(metas),
        }
        if metas:
            out["dim"] = metas[0]["dim"]
    return out


def run_embed(cfg: EmbedConfig, show_progress: bool = True) -> list[EncoderResult]:
    """Embed every corpus in `cfg` with every encoder; returns one result per (corpus, encoder)."""
    from tqdm.auto import tqdm

    encoders = get_encoders(list(cfg.encoders))
    for enc in encoders:
        enc.require()  # fail before any work if a model is missing
    results: list[EncoderResult] = []
    for ref in cfg.corpora:
        layout, manifest = prepare_corpus(ref, cfg)
        total = sum(v["rows"] for v in manifest["splits"].values())
        for enc in encoders:
            start = time.perf_counter()
            with tqdm(
                total=total, desc=f"{layout.root.name}/{enc.name}", unit="text", disable=not show_progress
            ) as bar:
                embedded = embed_encoder(layout, manifest, enc, cfg, bar.update)
            seconds = time.perf_counter() - start
            manifest["encoders"][enc.name] = summary = summarise_encoder(layout, enc)
            write_json(layout.manifest, manifest)
            splits = summary["splits"]
            results.append(
                EncoderResult(
                    corpus=layout.root.name,
                    encoder=enc.name,
                    dim=summary.get("dim", 0),
                    rows={s: splits[s]["rows"] for s in SPLITS},
                    dropped={s: splits[s]["dropped_invalid"] for s in SPLITS},
                    embedded_now=sum(embedded.values()),
                    seconds=seconds,
                )
            )
    return results
