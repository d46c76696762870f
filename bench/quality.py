"""Translation quality of every method and baseline on every pair of encoders, over seeds.

    python -m bench.quality --data ~/.cache/vec2vec/runs/pool/wordnet+news+bbc \
        [--encoders minilm,e5-small,use,wordllama] [--seeds 0,1,2] [--limit 25000] [--methods ...] [--joint] \
        [--restarts N]

Each (method, encoder pair, seed) is one run, fitted once and scored in both directions on the paired `eval`
split (blocks of --block candidates). Unsupervised methods see train_a of one encoder and train_b of the other
(different texts); the oracles see the same --limit true pairs of train_a. With --joint, each (method, seed) is
one fit of all --encoders together (one translator for every ordered pair; the training texts are split into
disjoint parts, one per encoder, so each encoder trains on fewer vectors than in a pair run). With --restarts N,
a linear run is N whole fits per pair on one random stream, the best label-free score kept (the first is the
one-fit run itself). A run's result is written to results/quality/<run>.json as soon as it finishes, and
existing results are kept, so an interrupted benchmark resumes where it stopped; `--report` only redraws the
table and plot from those files.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

from scipy.stats import spearmanr

from vec2vec.atomic import write_json
from vec2vec.universal.data import eval_pairs
from vec2vec.universal.evaluate import evaluate
from vec2vec.universal.train import TrainConfig, fit_translator
from vec2vec.universal.unsupervised import LinearUnsupervisedConfig

RESULTS = Path(__file__).parent / "results"
POOL = (
    "`vec2vec embed --corpus wordnet+news+bbc --encoders use,wordllama,minilm,e5-small --limit 60000 "
    "--eval-fraction 0.14 --seed 0 --shard-size 2048 --out ~/.cache/vec2vec/runs/pool` "
    "(train_a 25,789 / train_b 25,864 / eval 8,347 texts)"
)
RUNS = RESULTS / "quality"
METHODS = ("identity", "random", "oracle-procrustes", "oracle-ridge", "linear", "mini-vec2vec", "universal")
JOINT = {f"{m} (joint {n})": i + 0.5 for i, m in enumerate(METHODS) for n in range(3, 9)}  # sorted after `m`
OLD = {f"{m} [moment starts only]": i - 0.25 for m, i in JOINT.items()} | {"linear [moment starts only]": 3.75}
RESTARTS = {f"linear ({n} restarts)": METHODS.index("linear") + 0.25 for n in range(2, 9)}  # after one-fit linear
SEEDED = {"linear", "mini-vec2vec", "universal", "random"}


def restarted(method: str, restarts: int) -> bool:
    return method == "linear" and restarts > 1


def run_name(method: str, encoders: tuple[str, ...], seed: int, restarts: int = 1) -> str:
    joint = "-joint" if len(encoders) > 2 else ""
    more = f"-restarts{restarts}" if restarted(method, restarts) else ""
    return f"{method}{joint}{more}__{'__'.join(encoders)}__seed{seed}"


def run_one(method: str, encoders: tuple[str, ...], seed: int, args: argparse.Namespace, evals: dict) -> dict:
    cfg = TrainConfig(data=args.data, encoders=encoders, method=method, limit=args.limit, seed=seed)
    more = restarted(method, args.restarts)
    start = time.perf_counter()
    aligner = fit_translator(cfg, LinearUnsupervisedConfig(restarts=args.restarts) if more else None)
    wall = time.perf_counter() - start
    rows = evaluate(aligner, {e: evals[e] for e in encoders}, block=args.block)
    label = method if len(encoders) == 2 else f"{method} (joint {len(encoders)})"
    return {
        "method": f"{label} ({args.restarts} restarts)" if more else label,
        "pair": list(encoders),
        "seed": seed,
        "fit_s": aligner.fit_info["fit_s"],
        "wall_s": wall,
        "fit_info": aligner.fit_info,
        "config": dataclasses.asdict(aligner.config),
        "rows": [r.as_dict() for r in rows],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", help="an embedding job's <out>/<corpus> (see POOL)")
    ap.add_argument("--encoders", default="minilm,e5-small,use,wordllama")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--limit", type=int, default=25000)
    ap.add_argument("--block", type=int, default=8192)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--joint", action="store_true", help="one fit of all --encoders together per method and seed")
    ap.add_argument("--restarts", type=int, default=1, help="linear: whole fits per pair, best label-free kept")
    ap.add_argument("--report", action="store_true", help="only redraw the table and plot from results/quality/")
    args = ap.parse_args()
    if not args.report:
        if not args.data:
            ap.error("--data is required unless --report")
        encoders = args.encoders.split(",")
        _, evals = eval_pairs(args.data, encoders)
        groups = [tuple(encoders)] if args.joint else list(itertools.combinations(encoders, 2))
        for method in args.methods.split(","):
            for group, seed in itertools.product(groups, map(int, args.seeds.split(","))):
                if seed and method not in SEEDED:
                    continue
                out = RUNS / f"{run_name(method, group, seed, args.restarts)}.json"
                if out.exists():
                    continue
                if method == "identity" and len({evals[e].shape[1] for e in group}) > 1:
                    continue
                result = run_one(method, group, seed, args, evals)
                result["machine"] = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                                     "load_avg_1min_at_end": os.getloadavg()[0]}  # fmt: skip
                result["command"] = "python -m bench.quality " + " ".join(sys.argv[1:])
                write_json(out, result)
                top = ", ".join(f"{r['src']}->{r['dst']} top-1 {r['top1']:.3f}" for r in result["rows"])
                print(f"{out.stem}: fit {result['fit_s']:.0f}s; {top}", flush=True)
    report()


EARLIER = " [earlier version]"
# an earlier version that differs from today's only in its polish step, named by that step
NO_POLISH, BATCH_POLISH = " [no polish]", " [12k-batch polish]"
VERSIONS = (EARLIER, NO_POLISH, BATCH_POLISH)


def base_method(method: str) -> str:
    """`method` without its version tag."""
    return next((method.removesuffix(t) for t in VERSIONS if method.endswith(t)), method)


FIT_KEYS = ("screen", "refine", "converge", "polish")
# today's default screen, refinement, converge loop and polish as a run JSON holds them (tuples become lists)
DEFAULT_FIT = {
    k: v for k, v in json.loads(json.dumps(dataclasses.asdict(LinearUnsupervisedConfig()))).items() if k in FIT_KEYS
}


def version_label(run: dict) -> dict:
    """Runs of `linear`, or `universal` started from it, fitted by an earlier version are labelled as such: before
    ICP candidates and successive halving, or with another screen, refinement, converge loop or polish than today's
    defaults (or none recorded)."""
    if any(isinstance(v, dict) and "candidate_scores" in v for v in run["fit_info"].values()):
        return run | {"method": f"{run['method']} [moment starts only]"}
    config = run.get("config", {})
    config = (config.get("linear_start") or {}) if run["method"].startswith("universal") else config
    fit = {k: config.get(k) for k in FIT_KEYS}
    if not run["method"].startswith(("linear", "universal")) or fit == DEFAULT_FIT:
        return run
    tag = EARLIER
    if all(fit[k] == DEFAULT_FIT[k] for k in FIT_KEYS if k != "polish"):
        tag = NO_POLISH if fit["polish"] is None else BATCH_POLISH if "transport_schedule" in fit["polish"] else tag
    return run | {"method": f"{run['method']}{tag}"}


def report() -> None:
    runs = [version_label(json.loads(p.read_text())) for p in sorted(RUNS.glob("*.json"))]
    rows = [(run, row) for run in runs for row in run["rows"]]
    write_json(RESULTS / "quality.json", {"runs": runs})
    oracle = {(r["src"], r["dst"]): r["top1"] for run, r in rows if run["method"] == "oracle-procrustes"}
    lines = [
        "# Translation quality (`python -m bench.quality`)",
        "",
        "Paired eval split; candidates per block as stated; ranking by centred cosine. Unsupervised methods are",
        "fitted on different texts per encoder; oracles on true pairs of the same size. `vs oracle` = top-1 /",
        "oracle-Procrustes top-1 of the same direction. `fit s` is wall time on the machine of `load`",
        "(1-minute load average when the run ended; above the core count means the run shared its cores).",
        "",
        f"Data of the committed results: {POOL}.",
        "",
        "Commands: " + "; ".join(sorted({f"`{r['command']}`" for r in runs if "command" in r})),
        "",
        *summary(rows, oracle),
        "",
        "Every run:",
        "",
        "| src -> dst | method | seed | candidates | top-1 | vs oracle | top-5 | mean rank | FOSCTTM | CSLS top-1 "
        "| cos | centred cos | label-free | fit s | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {m: float(i) for i, m in enumerate(METHODS)} | JOINT | OLD | RESTARTS

    def rank(method: str) -> float:  # an earlier version's runs just before today's of the same method
        base = base_method(method)
        return order.get(base, 99) - 0.1 * (base != method)

    for run, r in sorted(rows, key=lambda x: (x[1]["src"], x[1]["dst"], rank(x[0]["method"]), x[0]["seed"])):
        ratio = r["top1"] / oracle[(r["src"], r["dst"])] if oracle.get((r["src"], r["dst"])) else float("nan")
        lf = r.get("label_free")
        lines.append(
            f"| {r['src']} -> {r['dst']} | {run['method']} | {run['seed']} | {r['candidates']} | {r['top1']:.3f} "
            f"| {ratio:.2f} | {r['top5']:.3f} | {r['mean_rank']:.1f} | {r['foscttm']:.4f} | {r['csls_top1']:.3f} "
            f"| {r['mean_cos']:.3f} | {r['centred_cos']:.3f} | {'' if lf is None else f'{lf:.3f}'} "
            f"| {run['fit_s']:.1f} | {run.get('machine', {}).get('load_avg_1min_at_end', '')} |"
        )
    scored = [(r["label_free"], r["top1"], run["method"]) for run, r in rows if r.get("label_free") is not None]
    if len(scored) >= 3:
        rho = spearmanr([s[0] for s in scored], [s[1] for s in scored]).statistic
        lines += [
            "",
            f"Label-free score against true top-1, every unsupervised run and direction ({len(scored)} points): "
            f"Spearman {rho:.2f}.",
            "",
            "![label-free score vs top-1](quality.png)",
        ]
        plot_label_free(scored)
    (RESULTS / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def summary(rows: list[tuple[dict, dict]], oracle: dict[tuple[str, str], float]) -> list[str]:
    """Top-1 per ordered pair and unsupervised method, every seed, with the worst seed's ratio to the oracle."""
    shown = [m for m in METHODS if m not in ("identity", "random", "oracle-procrustes", "oracle-ridge")]
    base = {run["method"]: base_method(run["method"].split(" (")[0]) for run, _ in rows}
    methods = sorted(
        {m for m, b in base.items() if b in shown and "[moment" not in m},
        key=lambda m: (shown.index(base[m]), base_method(m) != m, " (" in m, m),  # today's version, single fits first
    )
    seeds = {m: sorted({run["seed"] for run, _ in rows if run["method"] == m}) for m in methods}
    lines = [
        "Summary: top-1 of each seed (the seeds in the column's header, in order), then the worst seed's top-1 /",
        "oracle-Procrustes top-1.",
        "",
        "| src -> dst | oracle-Procrustes | "
        + " | ".join(f"{m}, seed{'s' * (len(seeds[m]) > 1)} {' / '.join(map(str, seeds[m]))}" for m in methods)
        + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for src, dst in sorted(oracle):
        cells = []
        for method in methods:
            runs = [(run["seed"], r["top1"]) for run, r in sorted(rows, key=lambda x: x[0]["seed"])
                    if run["method"] == method and (r["src"], r["dst"]) == (src, dst)]  # fmt: skip
            top = [t for _, t in runs]
            worst = min(top, default=float("nan")) / oracle[(src, dst)]
            which = [seed for seed, _ in runs]  # named where the cell lacks some of the column's seeds
            named = f"seed{'s' * (len(which) > 1)} {' / '.join(map(str, which))}: " if which != seeds[method] else ""
            cells.append(named + " / ".join(f"{t:.3f}" for t in top) + f" ({worst:.2f}x)" if top else "")
        lines.append(f"| {src} -> {dst} | {oracle[(src, dst)]:.3f} | " + " | ".join(cells) + " |")
    return lines


def plot_label_free(scored: list[tuple[float, float, str]]) -> None:
    """Does the label-free score (no pairs) rank runs the way true top-1 (pairs) does?"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for method in sorted({m for *_, m in scored}):
        pts = [(x, y) for x, y, m in scored if m == method]
        ax.scatter(*zip(*pts, strict=True), label=method, alpha=0.8)
    ax.set(xlabel="label-free score (kNN mixing, no pairs)", ylabel="top-1 on paired eval (8,192 candidates)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "quality.png", dpi=110)


if __name__ == "__main__":
    main()
