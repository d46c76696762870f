"""The training loop shared by Ray Train workers and Ray Tune trials: steps, reports, checkpoints, resume.

Both drive `Trainer.train_step` and, every `every` steps, report the losses and the label-free score together
with a checkpoint in the in-process format (safetensors + JSON, `checkpoint.py`) plus what it takes to rebuild
the translator (frames, config, dims). A driver needs nothing but that checkpoint: `aligner_from_checkpoint`.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from vec2vec.config import from_dict
from vec2vec.universal.aligner import AlignerError
from vec2vec.universal.checkpoint import load_checkpoint
from vec2vec.universal.latent import LatentModel
from vec2vec.universal.selection import knn_mixing
from vec2vec.universal.universal import Trainer, UniversalAligner, UniversalConfig

METRIC = "label_free"  # what Tune maximises: mean kNN mixing over every ordered encoder pair
Report = Callable[[dict[str, float], Path | None], None]  # (metrics, checkpoint directory or None)


@dataclass(frozen=True)
class ReportConfig:
    """How often a run reports, and how its label-free score is taken."""

    every: int = 100  # steps between reports: losses, label-free score and a checkpoint
    score_sample: int = 1000  # training vectors per encoder the score translates (a fixed sample)
    score_k: int = 10  # neighbours per point

    def __post_init__(self) -> None:
        if self.every < 1 or self.score_sample < 2 or self.score_k < 1:
            raise ValueError("report every and score_k must be >= 1, score_sample >= 2")


def pair_metric(src: str, dst: str) -> str:
    """MLflow/Tune-safe metric name of one direction's label-free score (encoder names may hold ':' or '/')."""
    safe = [re.sub(r"[^A-Za-z0-9_.-]+", "_", n) for n in (src, dst)]
    return f"{METRIC}.{safe[0]}.to.{safe[1]}"


def score_samples(framed: Mapping[str, np.ndarray], size: int, seed: int) -> dict[str, np.ndarray]:
    """A fixed sample of each encoder's framed training vectors: every report (and trial) is scored on the same."""
    rng = np.random.default_rng(seed)
    return {n: x[np.sort(rng.choice(len(x), min(size, len(x)), replace=False))] for n, x in sorted(framed.items())}


@torch.no_grad()
def label_free_scores(model: LatentModel, samples: Mapping[str, np.ndarray], k: int) -> dict[str, float]:
    """`selection.knn_mixing` of each encoder's translated samples with another encoder's real ones (no pairs)."""
    device = next(model.parameters()).device
    scores = {}
    for src, dst in itertools.permutations(sorted(samples), 2):
        translated = model.translate(torch.from_numpy(samples[src]).to(device), src, dst).cpu().numpy()
        scores[f"{src}->{dst}"] = knn_mixing(translated, samples[dst], k)
    return scores


def resume(trainer: Trainer, directory: Path, rank: int) -> list[int]:
    """Load the checkpoint Ray handed back; the steps this run has resumed at so far."""
    found = trainer.resume_from(directory)
    if found is None:
        raise AlignerError(
            f"the checkpoint in {directory} is not this run's (another config, data or seed); "
            "fix: use another run name or storage directory"
        )
    tensors, meta = found
    if rank > 0:
        trainer.generator.set_state(tensors[f"rng:{rank}"])
    return [*meta.get("resumes", []), trainer.step]


def _gather_states(trainer: Trainer, world: int) -> list[torch.Tensor]:
    """Every rank's sampler state (rank 0 writes them all into the checkpoint; each rank resumes its own)."""
    state = trainer.generator.get_state()
    if world == 1:
        return [state]
    device = trainer.device if dist.get_backend() == "nccl" else torch.device("cpu")
    states = [torch.empty_like(state, device=device) for _ in range(world)]
    dist.all_gather(states, state.to(device))
    return [s.cpu() for s in states]


def _mean_over_ranks(values: dict[str, torch.Tensor], device: torch.device, world: int) -> dict[str, float]:
    stacked = torch.stack([v.detach().float().to(device) for v in values.values()])
    if world > 1:
        dist.all_reduce(stacked)
        stacked /= world
    return dict(zip(values, stacked.tolist(), strict=True))


def run_loop(
    trainer: Trainer,
    aligner: UniversalAligner,
    samples: Mapping[str, np.ndarray],
    every: int,
    k: int,
    report: Report,
    resumes: list[int] | None = None,
    rank: int = 0,
    world: int = 1,
) -> None:
    """Train to `trainer.total`, reporting every `every` steps (and at the end) with a checkpoint from rank 0.

    Every rank must call this (each report is a barrier in Ray Train); losses are averaged over ranks, and the
    label-free score is the same on every rank because the weights are.
    """
    frames = {f"frames:{key}": torch.from_numpy(v) for key, v in aligner.frames.state().items()}
    meta: dict[str, Any] = {
        "aligner": {"config": dataclasses.asdict(aligner.config), "dims": aligner.dims},
        "hub": trainer.hub if trainer.maps is not None else None,
        "resumes": resumes or [],
    }
    start = time.perf_counter()
    reported = False
    while trainer.step < trainer.total or not reported:
        if trainer.step < trainer.total:
            values = trainer.train_step()
            trainer.step += 1
            if trainer.step % every and trainer.step != trainer.total:
                continue
            scores = label_free_scores(trainer.model, samples, k)
            row = {"step": trainer.step} | _mean_over_ranks(values, trainer.device, world)
            trainer.history.append(row | {METRIC: float(np.mean(list(scores.values())))})
        else:  # resumed from the final checkpoint: report it again so the run ends with a result
            scores = label_free_scores(trainer.model, samples, k)
        states = _gather_states(trainer, world)
        metrics = dict(trainer.history[-1]) if trainer.history else {"step": trainer.step}
        metrics |= {METRIC: float(np.mean(list(scores.values())))}
        metrics |= {pair_metric(*p.split("->")): v for p, v in scores.items()}
        with tempfile.TemporaryDirectory() as tmp:
            directory = None
            if rank == 0:
                rngs = {f"rng:{r}": s for r, s in enumerate(states) if r > 0}
                elapsed = trainer.prior_s + time.perf_counter() - start
                trainer.save_to(tmp, elapsed, tensors=frames | rngs, meta=meta | {METRIC: scores})
                directory = Path(tmp)
            report(metrics, directory)
        reported = True


def aligner_from_checkpoint(directory: str | Path) -> UniversalAligner:
    """The translator in a checkpoint written by `run_loop`, with its training record in `fit_info`."""
    found = load_checkpoint(directory)
    if found is None or "aligner" not in found[1]:
        raise AlignerError(f"{directory} holds no vec2vec training checkpoint; fix: point at a run's checkpoint")
    tensors, meta = found
    info = meta["aligner"]
    aligner = UniversalAligner(from_dict(UniversalConfig, info["config"], f"{directory} config"))
    aligner.dims = {str(n): int(d) for n, d in info["dims"].items()}
    arrays = {key.removeprefix("frames:"): v.numpy() for key, v in tensors.items() if key.startswith("frames:")}
    arrays |= {"net:" + key.removeprefix("model:"): v.numpy() for key, v in tensors.items() if key.startswith("model:")}
    aligner.load_state(arrays)
    aligner.fit_info.update(
        steps=meta["step"],
        train_s=meta["train_s"],
        history=meta["history"],
        label_free=meta[METRIC],
        resumes=meta["resumes"],  # steps a restarted worker group resumed at
        hub=meta["hub"],
        linear_init=meta["hub"] is not None and aligner.config.init_from_linear,
    )
    return aligner
