"""vec2vec's universal latent as an Aligner: adapters + shared backbone trained adversarially on unpaired vectors.

Training follows "Harnessing the Universal Geometry of Embeddings" (arXiv 2505.12540) and its reference code:
each step samples an independent minibatch per encoder (never pairs), takes one discriminator step (LSGAN, on
translations per output space and on the latent per encoder), then one generator step on the weighted sum of
reconstruction, cycle, VSP, cycle-VSP and the adversarial terms. Adam with betas (0.5, 0.999) for both sides and
gradient-norm clipping, as the reference code. The latent discriminators look at T(A_i(x)), the universal latent
where the reference code applies its latent GAN; with N encoders, encoder j's latent discriminator takes j's
latents as real and every other encoder's as fake, and each output discriminator takes j's real vectors against
translations into j from every other encoder (for N = 2 this is the paper's pair of GAN terms per space).

GANs between embedding spaces are unstable (the paper reports seeds that never converge), so the model can start
from, and be anchored to, a linear solution (`init_maps`, see `from_linear`): the anchor term pulls every
translation towards x @ W_ij with a weight that decays to a floor, and the adapters can be initialised so the
model *is* the linear map at step 0. Defaults are CPU-sized; the paper's sizes are noted beside each field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vec2vec.universal import losses as L
from vec2vec.universal.aligner import Aligner, AlignerError, register_aligner
from vec2vec.universal.checkpoint import (
    load_checkpoint,
    load_optimizer_tensors,
    optimizer_tensors,
    save_checkpoint,
)
from vec2vec.universal.frames import Frames
from vec2vec.universal.latent import Critics, LatentModel, init_from_maps, init_random
from vec2vec.universal.linear import LinearAligner
from vec2vec.universal.unsupervised import LinearUnsupervised, LinearUnsupervisedConfig


@dataclass(frozen=True)
class ModelConfig:
    latent_dim: int = 256  # width of A_i's output, T and B_i's input (reference code: d_adapter 512-2048)
    hidden_dim: int = 512  # residual blocks' inner width (reference: d_hidden 1024-2048)
    adapter_depth: int = 1  # residual blocks per A_i / B_i (reference: depth 3)
    backbone_depth: int = 2  # residual blocks in T (reference: transform_depth 4-5)
    disc_hidden: int = 256  # discriminator width (reference: disc_dim 512-2048)
    disc_depth: int = 2  # discriminator hidden layers (reference: disc_depth 4-5)

    def __post_init__(self) -> None:
        for name in ("latent_dim", "hidden_dim", "disc_hidden", "disc_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.adapter_depth < 0 or self.backbone_depth < 0:
            raise ValueError("adapter_depth and backbone_depth must be >= 0")


@dataclass(frozen=True)
class LossWeights:
    """Generator loss weights.

    Defaults are the reference code's released model configs (rec 1, vsp 1, cc_trans 10, cc_vsp 10, gen 1,
    latent_gen 1, least-squares GAN); its configs/unsupervised.toml differs (rec 0, vsp 10, latent_gen 0.1).
    """

    reconstruction: float = 1.0
    vsp: float = 1.0
    cycle: float = 10.0
    cycle_vsp: float = 10.0
    gan: float = 1.0  # LSGAN on each output space (0 also skips its discriminator step)
    latent_gan: float = 1.0  # LSGAN on the latent
    anchor: float = 1.0  # pull towards the linear solution (only with init_maps); not in the paper
    anchor_floor: float = 0.1  # the anchor weight decays linearly to this...
    anchor_decay_steps: int = 1000  # ...over this many steps (absolute, so resuming keeps the schedule)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"loss weight {f.name} must be >= 0, got {getattr(self, f.name)}")


@dataclass(frozen=True)
class UniversalConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    losses: LossWeights = field(default_factory=LossWeights)
    steps: int = 2000  # generator steps (one discriminator step each)
    epochs: float | None = None  # if set, overrides steps: epochs over the largest encoder's training vectors
    batch_size: int = 256  # per encoder per step (reference: 128 with 2 accumulation steps)
    lr: float = 1e-4  # generator Adam lr (reference: 1e-5, over far more steps than a CPU run affords)
    disc_lr: float = 1e-4  # discriminator Adam lr (reference: 1e-5)
    betas: tuple[float, float] = (0.5, 0.999)  # both optimisers, as the reference code
    max_grad_norm: float = 10.0  # gradient-norm clip for each side (reference: 10 in unsupervised.toml, else 1000)
    init_from_linear: bool = True  # with init_maps: start the adapters at the linear map (else only the anchor)
    # Without init_maps, fit this unsupervised linear translator first and start from it (None: from scratch,
    # which stayed at chance in short CPU runs; the paper's from-scratch runs take 1-7 GPU-days a pair).
    linear_start: LinearUnsupervisedConfig | None = field(default_factory=LinearUnsupervisedConfig)
    log_every: int = 50  # steps between entries of fit_info["history"]
    checkpoint_dir: str | None = None  # write/resume training state here
    checkpoint_every: int = 500
    progress: bool = True  # tqdm bar
    device: str = "cpu"  # "cuda" / "cuda:N" when available

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.epochs is not None and self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (VSP compares rows within a batch), got {self.batch_size}")
        if self.log_every < 1 or self.checkpoint_every < 1:
            raise ValueError("log_every and checkpoint_every must be >= 1")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {self.device!r}")


# Fields that may change between a stopped run and its resumption without changing the trajectory.
_RESUME_FREE = ("steps", "epochs", "checkpoint_dir", "checkpoint_every", "progress", "device")
_CHUNK = 8192  # rows per forward pass in transform


def _fingerprint(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@register_aligner
class UniversalAligner(Aligner):
    """Adapters A_i, B_i around one backbone T (latent.py), trained without pairs; any-to-any for N >= 2 encoders.

    Set `init_maps` (frame-to-frame matrices of a fitted LinearAligner, `linear.maps`) before `fit` to anchor to,
    and optionally start from, that linear solution; `from_linear` does the wiring.
    """

    kind = "universal"
    Config = UniversalConfig

    def __init__(self, config: UniversalConfig | None = None) -> None:
        super().__init__(config)
        self.frames = Frames()
        self.model: LatentModel | None = None
        self.init_maps: dict[tuple[str, str], np.ndarray] | None = None  # training-only; not saved

    def _device(self, training: bool) -> torch.device:
        device = torch.device(self.config.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            if training:
                raise AlignerError(f"device {self.config.device!r} asked for but CUDA is not available; use 'cpu'")
            return torch.device("cpu")  # translating is cheap: a saved GPU model still loads on CPU
        return device

    def _build(self) -> LatentModel:
        m = self.config.model
        with torch.random.fork_rng(devices=[]):  # nn.Linear's own init draws from the global RNG: leave it as found
            return LatentModel(self.dims, m.latent_dim, m.hidden_dim, m.adapter_depth, m.backbone_depth)

    # -- Aligner
    def _fit(self, spaces: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        framed, maps, seed = self.prepare(spaces, rng)
        trainer = Trainer(self, framed, maps, seed, data_id=_fingerprint(spaces))
        self.fit_info.update(trainer.run())
        self.model = trainer.model.eval()

    def prepare(
        self, spaces: dict[str, np.ndarray], rng: np.random.Generator
    ) -> tuple[dict[str, np.ndarray], dict[tuple[str, str], np.ndarray] | None, int]:
        """Everything before the training loop: frames, linear start, init maps and the loop's seed.

        Shared by `fit` and the Ray Train / Tune drivers (vec2vec.tune), so both start from the same state.
        """
        framed = self.frames.fit(spaces)
        if self.init_maps is None and self.config.linear_start is not None:
            self._start_from_linear(spaces, rng)
        return framed, self._check_maps(), int(rng.integers(0, 2**63 - 1))

    def _start_from_linear(self, spaces: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        """Fit the unsupervised linear translator on the same unpaired vectors and wire it in as `from_linear`."""
        assert self.config.linear_start is not None
        linear = LinearUnsupervised(self.config.linear_start).fit(spaces, rng)
        wired = from_linear(linear, self.config)
        self.config, self.init_maps = wired.config, wired.init_maps
        self.fit_info["linear_start"] = linear.fit_info

    def _check_maps(self) -> dict[tuple[str, str], np.ndarray] | None:
        if self.init_maps is None:
            return None
        maps = {}
        for s, d in itertools.permutations(self.dims, 2):
            if (s, d) not in self.init_maps:
                raise AlignerError(
                    f"init_maps has no {s}->{d} map; pass the maps of a linear aligner fitted on {s}+{d}"
                )
            w = np.asarray(self.init_maps[(s, d)], dtype=np.float32)
            if w.shape != (self.dims[s], self.dims[d]):
                raise AlignerError(f"init map {s}->{d} is {w.shape}, expected ({self.dims[s]}, {self.dims[d]})")
            maps[(s, d)] = w
        return maps

    def _transform(self, x: np.ndarray, src: str, dst: str) -> np.ndarray:
        assert self.model is not None, "fit or load the aligner first"
        y = self.frames.to_frame(x, src)
        device = next(self.model.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(y), _CHUNK):
                chunk = torch.from_numpy(y[start : start + _CHUNK]).to(device)
                out.append(self.model.translate(chunk, src, dst).cpu().numpy())
        return self.frames.from_frame(np.concatenate(out), dst)

    def state(self) -> dict[str, np.ndarray]:
        assert self.model is not None, "fit the aligner first"
        arrays = self.frames.state()
        arrays |= {f"net:{k}": v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        return arrays

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.frames.load_state(arrays, self.dims)
        model = self._build()
        weights = {
            k.removeprefix("net:"): torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("net:")
        }
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as exc:  # missing/unexpected keys or shape mismatch
            raise ValueError(str(exc)) from exc
        self.model = model.to(self._device(training=False)).eval()


def from_linear(linear: LinearAligner, config: UniversalConfig | None = None) -> UniversalAligner:
    """A UniversalAligner anchored to (and, if `config.init_from_linear`, starting at) `linear`'s maps.

    The linear init routes every pair through the widest encoder's frame (the hub), which needs a latent at least
    that wide: a narrower `latent_dim` is raised to the hub width (the returned config records it). Call `.fit` on
    the same encoders' vectors next.
    """
    config = config if config is not None else UniversalConfig()
    if not linear.maps:
        raise AlignerError("the linear aligner has no maps; fit it first")
    hub_width = max(linear.dims.values()) if linear.dims else max(w.shape[1] for w in linear.maps.values())
    if config.init_from_linear and config.model.latent_dim < hub_width:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, latent_dim=hub_width))
    aligner = UniversalAligner(config)
    aligner.init_maps = dict(linear.maps)
    return aligner


class Trainer:
    """The training loop of one fit: model, discriminators, optimisers, sampler RNG and checkpoints.

    `run` is the in-process loop. A data-parallel worker (vec2vec.tune.distributed) drives `train_step` itself:
    it passes its share of the batch (`batch_size`), its `rank` (every rank gets the same initial weights; rank 0
    keeps sampling from the init generator like an in-process fit, rank r > 0 from its own) and `sync`, which
    averages gradients across workers after each backward pass.
    """

    def __init__(
        self,
        aligner: UniversalAligner,
        framed: dict[str, np.ndarray],
        maps: dict[tuple[str, str], np.ndarray] | None,
        seed: int,
        data_id: str,
        batch_size: int | None = None,
        rank: int = 0,
        sync: Callable[[torch.nn.Module], None] | None = None,
    ) -> None:
        self.cfg: UniversalConfig = aligner.config
        self.batch_size = batch_size or self.cfg.batch_size  # rows per encoder this process draws per step
        self.sync = sync
        self.names = sorted(framed)
        self.device = aligner._device(training=True)
        self.data = {n: torch.from_numpy(framed[n]).to(self.device) for n in self.names}
        self.generator = torch.Generator().manual_seed(seed)  # the only randomness: init and batch sampling
        m = self.cfg.model
        self.model = aligner._build()
        with torch.random.fork_rng(devices=[]):
            self.critics = Critics(aligner.dims, m.latent_dim, m.disc_hidden, m.disc_depth)
        init_random(self.model, self.generator)
        init_random(self.critics, self.generator)
        if rank > 0:  # same init on every rank, a different sampling stream each
            self.generator = torch.Generator().manual_seed(
                int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])
            )
        self.hub = max(self.names, key=lambda n: (aligner.dims[n], -self.names.index(n)))  # widest; ties: first
        if maps is not None and self.cfg.init_from_linear:
            if m.latent_dim < aligner.dims[self.hub]:
                raise AlignerError(
                    f"linear init routes through {self.hub!r} ({aligner.dims[self.hub]}-d) but latent_dim is "
                    f"{m.latent_dim}; fix: raise model.latent_dim, set init_from_linear = false, or use from_linear"
                )
            init_from_maps(self.model, maps, self.hub)
        self.model.to(self.device)
        self.critics.to(self.device)
        self.maps = None if maps is None else {k: torch.from_numpy(w).to(self.device) for k, w in maps.items()}
        betas = (float(self.cfg.betas[0]), float(self.cfg.betas[1]))
        self.g_opt = torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr, betas=betas)
        self.d_opt = torch.optim.Adam(self.critics.parameters(), lr=self.cfg.disc_lr, betas=betas)
        largest = max(len(x) for x in framed.values())
        self.total = (
            self.cfg.steps if self.cfg.epochs is None else math.ceil(self.cfg.epochs * largest / self.cfg.batch_size)
        )
        config = {k: v for k, v in dataclasses.asdict(self.cfg).items() if k not in _RESUME_FREE}
        self.match = json.loads(
            json.dumps(
                {
                    "config": config,
                    "dims": aligner.dims,
                    "data": data_id,
                    "init_maps": None if maps is None else _fingerprint({f"{s}->{d}": w for (s, d), w in maps.items()}),
                    "seed": seed,
                }
            )
        )
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.prior_s = 0.0  # training time spent before a resume

    # -- checkpoints
    def _tensors(self) -> dict[str, torch.Tensor]:
        out = {f"model:{k}": v for k, v in self.model.state_dict().items()}
        out |= {f"critics:{k}": v for k, v in self.critics.state_dict().items()}
        out |= optimizer_tensors("g_opt", self.g_opt) | optimizer_tensors("d_opt", self.d_opt)
        out["rng"] = self.generator.get_state()
        return out

    def _save(self, elapsed: float) -> None:
        assert self.cfg.checkpoint_dir is not None
        self.save_to(self.cfg.checkpoint_dir, elapsed)

    def save_to(
        self,
        directory: str | Path,
        elapsed: float,
        tensors: dict[str, torch.Tensor] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Write the training state (plus a caller's extra `tensors` and `meta`) as a checkpoint in `directory`."""
        base = {"format": 1, "step": self.step, "match": self.match, "history": self.history, "train_s": elapsed}
        save_checkpoint(directory, self._tensors() | (tensors or {}), (meta or {}) | base)

    def _resume(self) -> int | None:
        if self.cfg.checkpoint_dir is None:
            return None
        return None if self.resume_from(self.cfg.checkpoint_dir) is None else self.step

    def resume_from(self, directory: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """Load the checkpoint in `directory` if it belongs to this run (same config, data, init and seed).

        Returns its tensors and meta (callers may have saved extra entries there), or None: nothing to resume.
        """
        found = load_checkpoint(directory)
        if found is None:
            return None
        tensors, meta = found
        if meta.get("format") != 1 or meta.get("match") != self.match:
            warnings.warn(
                f"checkpoint in {directory} is from a different config, data or seed; starting afresh "
                "(it will be overwritten)",
                stacklevel=5,
            )
            return None
        if meta["step"] > self.total:
            raise AlignerError(
                f"checkpoint in {directory} is at step {meta['step']}, past steps={self.total}; "
                "fix: raise steps or use another checkpoint_dir"
            )

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}

        self.model.load_state_dict(part("model:"))
        self.critics.load_state_dict(part("critics:"))
        load_optimizer_tensors("g_opt", self.g_opt, tensors)
        load_optimizer_tensors("d_opt", self.d_opt, tensors)
        self.generator.set_state(tensors["rng"])
        self.step, self.history, self.prior_s = int(meta["step"]), list(meta["history"]), float(meta["train_s"])
        return tensors, meta

    # -- one step
    def _batch(self, name: str) -> torch.Tensor:
        x = self.data[name]
        idx = torch.randint(len(x), (self.batch_size,), generator=self.generator)
        return x[idx.to(x.device)]

    def _clip(self, module: torch.nn.Module) -> None:
        torch.nn.utils.clip_grad_norm_(module.parameters(), self.cfg.max_grad_norm)

    def train_step(self) -> dict[str, torch.Tensor]:
        """One discriminator and one generator update; the loss terms (this process's batch)."""
        w, names, model, critics = self.cfg.losses, self.names, self.model, self.critics
        pairs = list(itertools.permutations(names, 2))
        batch = {n: self._batch(n) for n in names}  # independent per encoder: never pairs
        latent = dict(zip(names, model.embed_many([(n, batch[n]) for n in names]), strict=True))
        routes = [(s, d) for s in names for d in names]  # (s, s): reconstruction
        out = dict(zip(routes, model.decode_many([(d, latent[s]) for s, d in routes]), strict=True))

        def fakes(d: str) -> torch.Tensor:
            return torch.cat([out[(s, d)] for s in names if s != d])

        def other_latents(d: str) -> torch.Tensor:
            return torch.cat([latent[s] for s in names if s != d])

        def d_loss(critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
            scores = critic(torch.cat([real, fake]))  # one call for both sides
            return L.lsgan_discriminator_loss(scores[: len(real)], scores[len(real) :])

        # discriminator step, on detached generator outputs
        d_terms: dict[str, torch.Tensor] = {}
        if w.gan > 0:
            d_terms["d_gan"] = torch.stack(
                [d_loss(critics.output(d), batch[d], fakes(d).detach()) for d in names]
            ).mean()
        if w.latent_gan > 0:
            d_terms["d_latent"] = torch.stack(
                [d_loss(critics.latent(d), latent[d].detach(), other_latents(d).detach()) for d in names]
            ).mean()
        if d_terms:
            self.d_opt.zero_grad(set_to_none=True)
            torch.stack(list(d_terms.values())).sum().backward()
            if self.sync is not None:
                self.sync(critics)
            self._clip(critics)
            self.d_opt.step()

        # generator step against the updated discriminators
        critics.requires_grad_(False)
        anchor_w = L.anchor_weight(self.step, w.anchor, w.anchor_floor, w.anchor_decay_steps) if self.maps else 0.0
        weights = {
            "reconstruction": w.reconstruction,
            "vsp": w.vsp,
            "cycle": w.cycle,
            "cycle_vsp": w.cycle_vsp,
            "gan": w.gan,
            "latent_gan": w.latent_gan,
            "anchor": anchor_w,
        }
        terms: dict[str, torch.Tensor] = {}

        def mean(values: list[torch.Tensor]) -> torch.Tensor:
            return torch.stack(values).mean()

        terms["reconstruction"] = mean([L.reconstruction_loss(batch[n], out[(n, n)]) for n in names])
        terms["vsp"] = mean([L.vsp_loss(batch[s], out[(s, d)]) for s, d in pairs])
        if w.cycle > 0 or w.cycle_vsp > 0:
            back = model.embed_many([(d, out[(s, d)]) for s, d in pairs])  # i -> j -> i
            home = model.decode_many([(s, z) for (s, _), z in zip(pairs, back, strict=True)])
            cycled = dict(zip(pairs, home, strict=True))
            terms["cycle"] = mean([L.cycle_loss(batch[s], cycled[(s, d)]) for s, d in pairs])
            terms["cycle_vsp"] = mean([L.cycle_vsp_loss(batch[s], cycled[(s, d)]) for s, d in pairs])
        if w.gan > 0:
            terms["gan"] = mean([L.lsgan_generator_loss(critics.output(d)(fakes(d))) for d in names])
        if w.latent_gan > 0:
            terms["latent_gan"] = mean([L.lsgan_generator_loss(critics.latent(d)(other_latents(d))) for d in names])
        if self.maps is not None:
            terms["anchor"] = mean([L.anchor_loss(out[(s, d)], batch[s], self.maps[(s, d)]) for s, d in pairs])
        total = torch.stack([weights[k] * v for k, v in terms.items()]).sum()
        self.g_opt.zero_grad(set_to_none=True)
        total.backward()
        if self.sync is not None:
            self.sync(model)
        self._clip(model)
        self.g_opt.step()
        critics.requires_grad_(True)
        return {**terms, **d_terms, "total": total, "anchor_weight": torch.tensor(anchor_w)}

    # -- the loop
    def run(self) -> dict[str, Any]:
        resumed_from = self._resume()
        start = time.perf_counter()
        bar = tqdm(total=self.total, initial=self.step, desc="universal", disable=not self.cfg.progress)
        last_saved = self.step if resumed_from is not None else -1
        try:
            while self.step < self.total:
                values = self.train_step()
                self.step += 1
                bar.update(1)
                if self.step % self.cfg.log_every == 0 or self.step == self.total:
                    row = {"step": self.step} | {k: float(v.detach()) for k, v in values.items()}
                    self.history.append(row)
                    bar.set_postfix(total=f"{row['total']:.3f}")
                if self.cfg.checkpoint_dir is not None and self.step % self.cfg.checkpoint_every == 0:
                    self._save(self.prior_s + time.perf_counter() - start)
                    last_saved = self.step
        finally:
            bar.close()
        train_s = self.prior_s + time.perf_counter() - start
        if self.cfg.checkpoint_dir is not None and last_saved != self.step:
            self._save(train_s)
        return {
            "steps": self.step,
            "resumed_from": resumed_from,
            "train_s": train_s,
            "hub": self.hub if self.maps is not None else None,
            "linear_init": self.maps is not None and self.cfg.init_from_linear,
            "history": self.history,
        }
