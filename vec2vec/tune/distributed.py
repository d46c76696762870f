"""Train the universal latent data-parallel on Ray Train: K workers, one shared model, gradients averaged.

The driver reads the unpaired training sets once (frames, optional linear start, the label-free sample), then
starts a `TorchTrainer`: every worker builds the same model and critics from the seed, reads its shard of the
Parquet embeddings through Ray Data, draws `batch_size / K` rows per encoder per step from it, and averages
gradients over the process group (gloo on CPU, NCCL on GPUs) before each optimiser step, so K workers take the
steps one process would take with the full batch. A step runs several forward passes and two backward passes
(critics, then generator with the critics frozen), which DDP's reducer cannot follow (it syncs the gradients of
one `forward` per backward); one flattened all-reduce per backward does what DDP's buckets would.

Every `report.every` steps rank 0 reports a `ray.train.Checkpoint` (the in-process checkpoint format); a killed
worker makes Ray restart the group, which resumes from it (`FailureConfig.max_failures`). The run name is a
digest of data, config and seed, so re-running the same command after a crash of the driver resumes as well.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
import torch.distributed as dist
from tqdm import tqdm

from vec2vec.config import ConfigError
from vec2vec.runtime import cpu_threads, init_ray
from vec2vec.universal.aligner import check_vectors
from vec2vec.universal.data import TRAIN_SPLITS, DataError, open_corpus, training_sets
from vec2vec.universal.train import TrainConfig, train_record
from vec2vec.universal.universal import Trainer, UniversalAligner, UniversalConfig, _fingerprint

from .loop import METRIC, ReportConfig, aligner_from_checkpoint, resume, run_loop, score_samples


@dataclass(frozen=True)
class DistributedConfig:
    """How a run is spread over Ray (the [distributed] table)."""

    workers: int = 2  # data-parallel training workers; the global batch (batch_size) is split between them
    use_gpu: bool = False  # one GPU per worker, NCCL; else CPU workers, gloo
    cpus_per_worker: float = 1.0
    max_failures: int = 2  # worker-group restarts (from the last checkpoint) before the run fails
    storage: str = "runs/ray"  # Ray run storage: a path shared by every node, or a URI (s3://, gs://)
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.cpus_per_worker <= 0:
            raise ValueError(f"cpus_per_worker must be > 0, got {self.cpus_per_worker}")
        if self.max_failures < -1:
            raise ValueError(f"max_failures must be >= -1 (-1: retry forever), got {self.max_failures}")


def storage_uri(storage: str) -> str:
    """Ray needs an absolute path (trials and workers change directory) or a URI."""
    return storage if "://" in storage else str(Path(storage).expanduser().resolve())


def keep_ids(batch: pa.Table, ids: pa.Array) -> pa.Table:
    """Rows of `batch` whose id is in `ids` (this encoder's training texts: the unpaired partition and limit)."""
    return batch.filter(pc.is_in(batch.column("id"), value_set=ids))


def average_gradients(module: torch.nn.Module) -> None:
    """Replace each gradient by its mean over the process group (one all-reduce for the whole module)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def _read_shard(name: str) -> np.ndarray:
    import ray.train

    from vec2vec.pipelines.store import table_vectors

    shard = ray.train.get_dataset_shard(name)
    assert shard is not None, f"no dataset {name!r} was passed to the trainer"
    parts = [table_vectors(b, f"{name} shard") for b in shard.iter_batches(batch_format="pyarrow", batch_size=4096)]
    if not parts or sum(len(p) for p in parts) == 0:
        raise DataError(f"this worker's shard of {name!r} is empty; fix: use fewer workers or more training vectors")
    return np.concatenate(parts)


def train_worker(config: dict[str, Any]) -> None:
    """The per-worker function of the TorchTrainer (lives in the package so every Ray worker can import it)."""
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(cpu_threads())
    cfg: UniversalConfig = config["config"]
    cfg = dataclasses.replace(cfg, device=str(ray.train.torch.get_device()), progress=False, checkpoint_dir=None)
    aligner = UniversalAligner(cfg)
    aligner.dims = dict(config["dims"])
    aligner.frames.load_state(config["frames"], aligner.dims)
    framed = {n: aligner.frames.to_frame(_read_shard(n), n) for n in sorted(aligner.dims)}
    trainer = Trainer(
        aligner,
        framed,
        config["maps"],
        config["seed"],
        config["data_id"],
        batch_size=cfg.batch_size // world,
        rank=rank,
        sync=average_gradients if world > 1 else None,
    )
    trainer.match = trainer.match | {"workers": world}  # a checkpoint only resumes the same split of the batch

    def report(metrics: dict[str, float], directory: Path | None) -> None:
        ray.train.report(
            metrics, checkpoint=None if directory is None else ray.train.Checkpoint.from_directory(directory)
        )

    resumes = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            resumes = resume(trainer, Path(d), rank)
    run_loop(trainer, aligner, config["samples"], config["every"], config["k"], report, resumes, rank, world)


def _datasets(data: str, names: dict[str, np.ndarray]) -> dict[str, Any]:
    """One Ray Dataset per encoder: its train_a/train_b Parquet shards, filtered to its training ids.

    Read into the object store before the workers start: the workers hold every CPU they asked for, so read
    tasks scheduled after them would wait forever on a cluster sized to the run.
    """
    import ray.data

    corpus = open_corpus(data)
    out = {}
    for name, ids in names.items():
        files = [str(f) for s in TRAIN_SPLITS for f in sorted(corpus.layout.split_dir(name, s).glob("part-*.parquet"))]
        ds = ray.data.read_parquet(files, columns=["id", "vector"])
        ds = ds.map_batches(keep_ids, fn_kwargs={"ids": pa.array(ids.tolist())}, batch_format="pyarrow")  # type: ignore[arg-type]
        out[name] = ds.materialize()
    return out


def _progress_relay(total: int, show: bool) -> tuple[Any, Callable[[], None]]:
    """A Train callback that forwards each report's step from the controller to a tqdm bar in this process, and
    the function that closes both (Ray Train runs its callbacks in the controller actor, not in the driver)."""
    from ray.train import UserCallback
    from ray.util.queue import Empty, Queue

    queue = Queue(actor_options={"num_cpus": 0})

    class Relay(UserCallback):
        def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
            queue.put_nowait({"step": metrics[0].get("step", 0), METRIC: metrics[0].get(METRIC)})

    bar = tqdm(total=total, desc="universal (Ray Train)", disable=not show)
    stop = threading.Event()

    def pump() -> None:
        while not stop.is_set():
            try:
                report = queue.get(timeout=0.5)
            except Empty:
                continue
            bar.update(int(report["step"]) - bar.n)  # a restarted group reports from its checkpoint's step
            if report[METRIC] is not None:
                bar.set_postfix({METRIC: f"{report[METRIC]:.3f}"})

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()

    def close() -> None:
        stop.set()
        thread.join()
        bar.close()
        queue.shutdown()

    return Relay(), close


def fit_distributed(
    train: TrainConfig, config: UniversalConfig, dcfg: DistributedConfig, address: str | None = None
) -> UniversalAligner:
    """Fit the universal latent on `train.data` with `dcfg.workers` Ray Train workers; save to `train.out`.

    The same (data, encoders, limit, seed) select the same unpaired training vectors as an in-process fit.
    """
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    if config.batch_size % dcfg.workers:
        raise ConfigError(
            f"batch_size {config.batch_size} does not split evenly over {dcfg.workers} workers; "
            "fix: make batch_size a multiple of workers"
        )
    start = time.perf_counter()
    init_ray(address)
    rng = np.random.default_rng(train.seed)
    sets = training_sets(train.data, train.encoders, train.limit, rng)
    spaces = {n: check_vectors(e.vectors, None, f"{n} training vectors") for n, e in sets.items()}
    aligner = UniversalAligner(config)
    aligner.dims = {n: int(x.shape[1]) for n, x in spaces.items()}
    framed, maps, seed = aligner.prepare(spaces, rng)  # may raise latent_dim (linear start): use aligner.config
    data_id = _fingerprint(spaces)
    loop_config = {
        "config": aligner.config,
        "dims": aligner.dims,
        "frames": aligner.frames.state(),
        "maps": maps,
        "seed": seed,
        "data_id": data_id,
        "samples": score_samples(framed, dcfg.report.score_sample, train.seed),
        "every": dcfg.report.every,
        "k": dcfg.report.score_k,
    }
    largest = max(len(x) for x in spaces.values())
    steps = config.steps if config.epochs is None else math.ceil(config.epochs * largest / config.batch_size)
    relay, close_progress = _progress_relay(steps, config.progress)
    resources = {"CPU": dcfg.cpus_per_worker} | ({"GPU": 1.0} if dcfg.use_gpu else {})
    digest = hashlib.sha256(
        json.dumps([data_id, dataclasses.asdict(aligner.config), seed, dcfg.workers], sort_keys=True).encode()
    ).hexdigest()[:12]
    trainer = TorchTrainer(
        train_worker,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=dcfg.workers, use_gpu=dcfg.use_gpu, resources_per_worker=resources),
        torch_config=TorchConfig(backend="nccl" if dcfg.use_gpu else "gloo"),
        datasets=_datasets(train.data, {n: e.ids for n, e in sets.items()}),
        run_config=RunConfig(
            name=f"universal-{digest}",
            storage_path=storage_uri(dcfg.storage),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            failure_config=FailureConfig(max_failures=dcfg.max_failures),
            logging_config=LoggingConfig(log_level="WARNING"),
            callbacks=[relay],  # type: ignore[call-arg]  # V2 RunConfig
        ),
    )
    try:
        result = trainer.fit()
    finally:
        close_progress()
    if result.checkpoint is None:
        raise RuntimeError(f"the Ray Train run ended without a checkpoint ({result.error})")
    with result.checkpoint.as_directory() as d:
        fitted = aligner_from_checkpoint(d)
    fitted.fit_info |= {
        "fit_s": time.perf_counter() - start,
        "workers": dcfg.workers,
        "run": {
            "name": f"universal-{digest}",
            "storage": storage_uri(dcfg.storage),
            "checkpoint": result.checkpoint.path,
        },
        "train": train_record(train.data, train.seed, train.limit, spaces, paired=False),
    }
    if "linear_start" in aligner.fit_info:
        fitted.fit_info["linear_start"] = aligner.fit_info["linear_start"]
    if train.out:
        fitted.save(train.out)
    return fitted
