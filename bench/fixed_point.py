"""Where the linear fit's refinement settles when it starts at the supervised answer.

    python -m bench.fixed_point --data ~/.cache/vec2vec/runs/pool/wordnet+news+bbc \
        [--pairs minilm:wordllama,minilm:e5-small] [--blocks 3] [--limit 25000] [--seed 0]

Why: on some pairs every seed of the unsupervised linear fit reaches the same map, short of the supervised ceiling
(MiniLM->WordLlama 0.86x). That is either a search that stops early or an objective whose optimum is not the true
map. This tells them apart: start at the oracle map (orthogonal Procrustes on true pairs) and run the fit's own
final refinement, then its converge blocks and its polish (one transport plan between all vectors; earlier runs
had none, or 12,000-point batches), on the *unpaired* training sides. If top-1 falls while the label-free score
rises, the unpaired objectives prefer a worse map than the truth, and no search will find the truth with them.

Per pair: frames and oracle from `train_a` true pairs (the oracle-procrustes baseline); refinement on encoder A's
`train_a` against encoder B's `train_b`, as the fit sees them; top-1 on the paired eval split (blocks of --block
candidates) in both directions after each step; the label-free score on one fixed unpaired sample throughout.
Results: results/fixed_point.{json,md}, one file per pair under results/fixed_point/ (resumable).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vec2vec.atomic import write_json
from vec2vec.universal.baselines import OracleProcrustes
from vec2vec.universal.data import eval_pairs, paired_training_spaces, training_spaces
from vec2vec.universal.evaluate import evaluate
from vec2vec.universal.refine import dense_transport, refine, wasserstein_procrustes
from vec2vec.universal.selection import score_sample, translated_mixing
from vec2vec.universal.unsupervised import LinearUnsupervisedConfig

RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "fixed_point"
Step = Callable[[np.ndarray], np.ndarray]  # a map -> the map after one step of the fit
PAIRS = "minilm:use,minilm:wordllama,minilm:e5-small,e5-small:use,use:wordllama,e5-small:wordllama"


def run_pair(a: str, b: str, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    cfg = LinearUnsupervisedConfig()
    oracle = OracleProcrustes().fit(paired_training_spaces(args.data, (a, b), args.limit, rng), rng)
    unpaired = training_spaces(args.data, (a, b), args.limit, rng)
    xa, xb = (oracle.frames.to_frame(unpaired[e], e) for e in (a, b))
    _, evals = eval_pairs(args.data, (a, b))
    sample = score_sample(xa, xb, cfg.selection, rng)
    block = dataclasses.replace(cfg.refine, transport_schedule=cfg.converge.block)
    polish = cfg.polish
    # (name, step) in the order the fit runs them; the first only scores the oracle
    steps: list[tuple[str, Step | None]] = [
        ("oracle (true pairs)", None),
        ("final refinement", lambda w: refine(xa, xb, w, cfg.refine, rng)),
    ]
    converge_block: Step = lambda w: wasserstein_procrustes(xa, xb, w, block, rng)  # noqa: E731
    steps += [(f"converge block {i + 1}", converge_block) for i in range(args.blocks)]
    if polish is not None:
        steps.append(("polish (one plan, all vectors)", lambda w: dense_transport(xa, xb, w, polish, rng)))
    w, trace = oracle.maps[(a, b)], []
    for name, step in steps:
        start = time.perf_counter()
        if step is not None:
            w = step(w)
            oracle.set_orthogonal(a, b, w)
        rows = evaluate(oracle, evals, block=args.block)
        trace.append(
            {
                "step": name,
                "seconds": time.perf_counter() - start,
                "label_free": translated_mixing(*sample, w, cfg.selection.k),
                "top1": {f"{r.src}->{r.dst}": r.top1 for r in rows},
                "centred_cos": {f"{r.src}->{r.dst}": r.centred_cos for r in rows},
                "candidates": rows[0].candidates,
            }
        )
        print(f"{a}/{b} {name}: label-free {trace[-1]['label_free']:.4f}, top-1 {trace[-1]['top1']}", flush=True)
    return {"pair": [a, b], "seed": args.seed, "limit": args.limit, "trace": trace,
            "command": "python -m bench.fixed_point " + " ".join(sys.argv[1:])}  # fmt: skip


def report() -> None:
    runs = [json.loads(p.read_text()) for p in sorted(RUNS.glob("*.json"))]
    write_json(RESULTS / "fixed_point.json", {"runs": runs})
    lines = [
        "# Refinement started at the supervised answer (`python -m bench.fixed_point`)",
        "",
        "Start: orthogonal Procrustes on true pairs (the oracle). Then the linear fit's own final refinement,",
        "converge blocks and polish (runs without a polish step predate it; `polish (dense batches)` is the",
        "previous polish, 20 batches of 12,000 points a side; today's is `polish (one plan, all vectors)`), on",
        "unpaired training sides. Top-1 on the paired eval split (candidates as stated, centred cosine ranking),",
        "both directions; label-free score (kNN mixing, no pairs) on one fixed unpaired sample.",
        "A falling top-1 with a rising label-free score means the unpaired objectives prefer a worse map than the",
        "truth on that pair.",
        "",
        "Commands: " + "; ".join(sorted({f"`{r['command']}`" for r in runs})),
        "",
        "Where it settles (the last step) against where it started, top-1 a->b / b->a:",
        "",
        "| pair | oracle | settled | settled / oracle | label-free, oracle -> settled | last step |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        a, b = run["pair"]
        first, last = run["trace"][0], run["trace"][-1]
        cells = [" / ".join(f"{t['top1'][d]:.3f}" for d in (f"{a}->{b}", f"{b}->{a}")) for t in (first, last)]
        ratio = " / ".join(f"{last['top1'][d] / first['top1'][d]:.2f}x" for d in (f"{a}->{b}", f"{b}->{a}"))
        lines.append(
            f"| {a} / {b} | {cells[0]} | {cells[1]} | {ratio} | {first['label_free']:.3f} -> {last['label_free']:.3f} "
            f"| {last['step']} |"
        )
    lines += [
        "",
        "Every step (`s`: its wall seconds, on a machine shared with other jobs):",
        "",
        "| pair | step | label-free | top-1 a->b | top-1 b->a | centred cos a->b | candidates | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        a, b = run["pair"]
        for t in run["trace"]:
            lines.append(
                f"| {a} / {b} | {t['step']} | {t['label_free']:.4f} | {t['top1'][f'{a}->{b}']:.3f} "
                f"| {t['top1'][f'{b}->{a}']:.3f} | {t['centred_cos'][f'{a}->{b}']:.3f} | {t['candidates']} "
                f"| {t['seconds']:.0f} |"
            )
    (RESULTS / "fixed_point.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", help="an embedding job's <out>/<corpus> (see bench.quality's POOL)")
    ap.add_argument("--pairs", default=PAIRS, help="comma-separated a:b encoder pairs")
    ap.add_argument("--blocks", type=int, default=3, help="converge blocks after the final refinement")
    ap.add_argument("--limit", type=int, default=25000)
    ap.add_argument("--block", type=int, default=8192)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report", action="store_true", help="only redraw the table from results/fixed_point/")
    args = ap.parse_args()
    if not args.report:
        if not args.data:
            ap.error("--data is required unless --report")
        for pair in args.pairs.split(","):
            a, b = pair.split(":")
            out = RUNS / f"{a}__{b}__seed{args.seed}.json"
            if not out.exists():
                write_json(out, run_pair(a, b, args))
    report()


if __name__ == "__main__":
    main()
