"""Scale-out costs: Ray Train steps/s for 1 vs 2 workers, Ray Tune wall time vs trials, one latent vs pair models.

    python -m bench.scale --data ~/.cache/vec2vec/runs/pool/wordnet+news+bbc [--limit 4000] [--steps 400]
    python -m bench.scale --report        # redraw scale.md from scale.json

1. workers: the universal latent on Ray Train with 1 and 2 CPU workers at the same global batch (and two seeds,
   for the noise between runs): loop steps/s, wall time, final losses, label-free score, paired eval top-1.
2. tune: `run_search` with 1, 2 and 4 trials of the same size (1 CPU each, so 2 at a time on 2 cores).
3. encoders: N encoders in one latent (N adapter pairs, one backbone) against N(N-1)/2 two-encoder models, for
   N = 2, 3, 4: generator parameters and the wall time of a fixed number of in-process training steps.
Writes results/scale.json and results/scale.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vec2vec.atomic import write_json
from vec2vec.tune.distributed import DistributedConfig, fit_distributed
from vec2vec.tune.loop import METRIC, ReportConfig
from vec2vec.tune.search import SearchConfig, run_search
from vec2vec.universal.data import eval_pairs, training_spaces
from vec2vec.universal.evaluate import evaluate
from vec2vec.universal.train import TrainConfig
from vec2vec.universal.universal import ModelConfig, UniversalAligner, UniversalConfig

RESULTS = Path(__file__).parent / "results"
ENCODERS = ("minilm", "use", "e5-small", "wordllama")
MODEL = ModelConfig(latent_dim=256, hidden_dim=512, adapter_depth=1, backbone_depth=2, disc_hidden=256, disc_depth=2)


def _config(steps: int, batch: int) -> UniversalConfig:
    # linear_start off: its minutes would swamp the timings; this measures the loop itself
    return UniversalConfig(model=MODEL, steps=steps, batch_size=batch, linear_start=None, progress=False)


def workers(data: str, limit: int, steps: int, batch: int, storage: str) -> list[dict]:
    _, eval_vectors = eval_pairs(data, ENCODERS[:2])
    rows = []
    for k, seed in itertools.product((1, 2), (0, 1)):
        train = TrainConfig(data=data, encoders=ENCODERS[:2], method="universal", limit=limit, seed=seed)
        dcfg = DistributedConfig(workers=k, storage=storage, report=ReportConfig(every=steps // 4))
        aligner = fit_distributed(train, _config(steps, batch), dcfg)
        last = aligner.fit_info["history"][-1]
        top1 = {f"{r.src}->{r.dst}": r.top1 for r in evaluate(aligner, eval_vectors)}
        rows.append({"workers": k, "seed": seed, "steps": steps, "global_batch": batch,
                     "steps_per_s": steps / aligner.fit_info["train_s"], "loop_s": aligner.fit_info["train_s"],
                     "wall_s": aligner.fit_info["fit_s"], "final": last, "eval_top1": top1})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def tune_trials(data: str, limit: int, steps: int, batch: int, storage: str) -> list[dict]:
    rows = []
    for trials in (1, 2, 4):
        train = TrainConfig(data=data, encoders=ENCODERS[:2], limit=limit, seed=trials, out=f"{storage}/best-{trials}")
        space = {"seed": {"choice": (0, 1, 2, 3)}, "lr": {"loguniform": (1e-5, 1e-3)}}
        cfg = SearchConfig(trials=trials, space=space, report=ReportConfig(every=steps // 4), storage=storage)
        start = time.perf_counter()
        outcome = run_search(train, _config(steps, batch), cfg, uri=f"sqlite:///{storage}/mlflow.db")
        rows.append({"trials": trials, "steps_per_trial": steps, "wall_s": time.perf_counter() - start,
                     "best_label_free": max(t[METRIC] for t in outcome.trials)})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def encoders(data: str, limit: int, steps: int, batch: int) -> list[dict]:
    torch.set_num_threads(1)
    spaces = training_spaces(data, ENCODERS, limit, np.random.default_rng(0))

    def fit(names: tuple[str, ...]) -> tuple[int, float]:
        aligner = UniversalAligner(_config(steps, batch)).fit({n: spaces[n] for n in names}, np.random.default_rng(0))
        assert aligner.model is not None
        return sum(p.numel() for p in aligner.model.parameters()), aligner.fit_info["train_s"]

    rows = []
    for n in (2, 3, 4):
        names = ENCODERS[:n]
        params, seconds = fit(names)
        pairs = [fit(p) for p in itertools.combinations(names, 2)]
        rows.append({"encoders": n, "steps": steps, "batch_per_encoder": batch,
                     "one_latent": {"params": params, "train_s": seconds},
                     "pair_models": {"models": len(pairs), "params": sum(p for p, _ in pairs),
                                     "train_s": sum(s for _, s in pairs)}})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def report(doc: dict) -> str:
    lines = [
        "# Scale-out benchmark",
        "",
        f"Command: `{doc['command']}`  ",
        f"Machine: {doc['machine']}. **Timings are contended**: another CPU-heavy job shared the two cores.",
        "",
        "## 1. Ray Train: 1 vs 2 CPU workers, same global batch",
        "",
        "Loop steps/s counts the whole training loop (steps, reports, label-free scoring, checkpoints); wall s adds",
        "the driver's data read, Ray Data and the TorchTrainer start. Loss, label-free score and eval top-1 are at the",
        "last step; linear_start is off, so these short runs from scratch stay at chance top-1: the columns show",
        "whether 1 and 2 workers land in the same place, not translation quality.",
        "",
        "| workers | seed | steps/s (loop) | loop s | wall s | total loss | label-free | top-1 a→b | top-1 b→a |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["workers"]:
        t = list(r["eval_top1"].values())
        lines.append(f"| {r['workers']} | {r['seed']} | {r['steps_per_s']:.2f} | {r['loop_s']:.1f} | "
                     f"{r['wall_s']:.1f} | {r['final']['total']:.3f} | {r['final'][METRIC]:.3f} | {t[0]:.3f} | "
                     f"{t[1]:.3f} |")  # fmt: skip
    lines += ["", "## 2. Ray Tune: wall time vs trials (1 CPU per trial)", "",
              "| trials | steps per trial | wall s | best label-free |", "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {r['trials']} | {r['steps_per_trial']} | {r['wall_s']:.1f} | {r['best_label_free']:.3f} |"
              for r in doc["tune"]]  # fmt: skip
    lines += ["", "## 3. N encoders: one latent vs N(N-1)/2 pair models (generator parameters, in-process steps)", "",
              "Train s: the same number of in-process steps (batch per encoder as shown) for the one N-encoder model,",
              "and summed over the pair models; parameters: adapters + backbone (critics excluded).", "",
              "| N | one latent: params | one latent: train s | pair models | pairs: params | pairs: train s |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for r in doc["encoders"]:
        one, pairs = r["one_latent"], r["pair_models"]
        lines.append(f"| {r['encoders']} | {one['params']:,} | {one['train_s']:.1f} | {pairs['models']} | "
                     f"{pairs['params']:,} | {pairs['train_s']:.1f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="", help="<out>/<corpus> of `vec2vec embed` with the four core encoders")
    p.add_argument("--limit", type=int, default=4000, help="training vectors per encoder")
    p.add_argument("--steps", type=int, default=400, help="training steps per run")
    p.add_argument("--batch", type=int, default=128, help="global batch per encoder")
    p.add_argument("--report", action="store_true", help="only redraw scale.md from scale.json")
    args = p.parse_args()
    if args.report:
        rewrite_report()
        return
    if not args.data:
        p.error("--data is required (the embedding job's <out>/<corpus>)")
    with tempfile.TemporaryDirectory(prefix="v2v-scale-") as storage:
        doc = {
            "command": "python -m bench.scale " + " ".join(sys.argv[1:]),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only",
            "data": str(Path(args.data).expanduser()),
            "workers": workers(args.data, args.limit, args.steps, args.batch, storage),
            "tune": tune_trials(args.data, args.limit, args.steps // 2, args.batch, storage),
            "encoders": encoders(args.data, args.limit, args.steps // 8, args.batch),
        }
    write_json(RESULTS / "scale.json", doc)
    (RESULTS / "scale.md").write_text(report(doc))
    print(report(doc))


def rewrite_report() -> None:
    """Redraw scale.md from scale.json (after editing the report's wording)."""
    (RESULTS / "scale.md").write_text(report(json.loads((RESULTS / "scale.json").read_text())))


if __name__ == "__main__":
    main()
