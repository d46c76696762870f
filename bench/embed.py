"""Embedding throughput: raw `Encoder.encode` vs the Ray embedding job, per core encoder, on the same texts.

    python -m bench.embed [--texts 5000] [--encoders minilm,e5-small,use,wordllama] [--corpus news]

Raw: the encoder in this process with every core (threads = cores), model load excluded.
Job: `run_embed` on a local Ray of the same cores (Ray start excluded), two numbers: end to end (actor start
and model load in each actor included) and steady state (from the first finished batch to the last).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from vec2vec.runtime import configure_env, init_ray

configure_env()

from vec2vec.encoders import CORE, get_encoder  # noqa: E402
from vec2vec.pipelines.embed import EmbedConfig, embed_encoder, prepare_corpus  # noqa: E402
from vec2vec.pipelines.split import SPLITS, SplitConfig  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=5000)
    ap.add_argument("--encoders", default=",".join(CORE))
    ap.add_argument("--corpus", default="news")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--replot", action="store_true", help="redraw table and plot from results/embed.json")
    args = ap.parse_args()
    if args.replot:
        report(json.loads((RESULTS / "embed.json").read_text()))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    cfg = EmbedConfig(corpora=(args.corpus,), out=str(work), split=SplitConfig(limit=args.texts),
                      batch_size=args.batch_size, shard_size=512)  # fmt: skip
    layout, manifest = prepare_corpus(args.corpus, cfg)
    texts = [t for s in SPLITS for t in pq.read_table(layout.texts(s), columns=["text"]).column("text").to_pylist()]
    t0 = time.perf_counter()
    init_ray()
    ray_start = time.perf_counter() - t0
    rows = []
    for name in args.encoders.split(","):
        enc = get_encoder(name)
        enc.encode(texts[:8])  # load + warm up, excluded
        t0 = time.perf_counter()
        enc.encode(texts, args.batch_size)
        raw_s = time.perf_counter() - t0
        del enc
        marks: list[tuple[float, int]] = []
        t0 = time.perf_counter()
        embed_encoder(layout, manifest, get_encoder(name), cfg, lambda n, m=marks: m.append((time.perf_counter(), n)))
        job_s = time.perf_counter() - t0
        steady = (len(texts) - marks[0][1]) / (marks[-1][0] - marks[0][0])
        row = {
            "encoder": name, "texts": len(texts), "raw_s": raw_s, "raw_texts_per_s": len(texts) / raw_s,
            "job_s": job_s, "job_texts_per_s": len(texts) / job_s, "job_steady_texts_per_s": steady,
            "ratio_end_to_end": raw_s / job_s, "ratio_steady": steady / (len(texts) / raw_s),
        }  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    shutil.rmtree(work)
    result = {
        "command": "python -m bench.embed " + " ".join(sys.argv[1:]),
        "corpus": args.corpus, "batch_size": args.batch_size, "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(), "ray_start_s": ray_start,
        "loadavg_at_end": os.getloadavg(), "rows": rows,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "embed.json").write_text(json.dumps(result, indent=2) + "\n")
    report(result)


def report(result: dict) -> None:
    """Markdown table and bar chart from a result dict (`--replot` redraws them from the committed JSON)."""
    rows = result["rows"]
    lines = [
        "# Embedding throughput: raw encode vs the Ray job",
        "",
        f"Command: `{result['command']}` ({rows[0]['texts']} `{result['corpus']}` texts, batch "
        f"{result['batch_size']}, {result['cpus']} CPUs, local Ray started in {result['ray_start_s']:.1f} s, "
        "not counted).",
        "",
        "| encoder | raw texts/s | job texts/s end to end | job texts/s steady | end-to-end / raw | steady / raw |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['encoder']} | {r['raw_texts_per_s']:.0f} | {r['job_texts_per_s']:.0f} | "
            f"{r['job_steady_texts_per_s']:.0f} | {r['ratio_end_to_end']:.2f} | {r['ratio_steady']:.2f} |"
        )
    lines += ["", "Target: the job keeps >= 0.9 x raw throughput.", "", "![throughput](embed.png)", ""]
    (RESULTS / "embed.md").write_text("\n".join(lines))
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(rows))
    for i, (key, label) in enumerate([("raw_texts_per_s", "raw encode"), ("job_texts_per_s", "job, end to end"),
                                      ("job_steady_texts_per_s", "job, steady")]):  # fmt: skip
        ax.bar(x + (i - 1) * 0.27, [r[key] for r in rows], 0.27, label=label)
    ax.set_xticks(x, [r["encoder"] for r in rows])
    ax.set_yscale("log")
    ax.set_ylabel("texts / s (log)")
    ax.set_title(f"{rows[0]['texts']} {result['corpus']} texts, {result['cpus']} CPUs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "embed.png", dpi=110)


if __name__ == "__main__":
    main()
