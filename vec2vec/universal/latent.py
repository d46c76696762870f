"""The torch modules of vec2vec's universal latent (Jha et al. 2025, arXiv 2505.12540).

Per encoder i an input adapter A_i (d_i -> latent) and an output adapter B_i (latent -> d_i); one backbone T shared
by every encoder. translate(x, i->j) = unit(B_j(T(A_i(x)))). T being shared is what makes the latent *universal*:
N encoders need N adapter pairs, not N^2 maps, and any encoder reaches any other through the same latent.

Vectors enter and leave in each encoder's centred frame (see linear.py); the modules never see raw vectors.
Weights are initialised from an explicit torch.Generator so a fit is reproducible without global seeding.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """h + Linear(SiLU(Linear(LayerNorm(h)))): the paper's residual MLP block (pre-norm, so depth stays trainable)."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, hidden)
        self.act = nn.SiLU()
        self.down = nn.Linear(hidden, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.down(self.act(self.up(self.norm(h))))


class ResidualMLP(nn.Module):
    """Linear in-projection, `depth` residual blocks at `width`, linear out-projection.

    With every block's `down` layer zeroed the whole module is the affine map proj_out . proj_in, which is what
    lets it start exactly at a known linear solution.
    """

    def __init__(self, d_in: int, d_out: int, width: int, hidden: int, depth: int) -> None:
        super().__init__()
        self.proj_in = nn.Linear(d_in, width)
        self.blocks = nn.Sequential(*(ResidualBlock(width, hidden) for _ in range(depth)))
        self.proj_out = nn.Linear(width, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_out(self.blocks(self.proj_in(x)))


class Discriminator(nn.Module):
    """A small LeakyReLU MLP scoring how "real" a vector looks (one unbounded score per row, for LSGAN)."""

    def __init__(self, d_in: int, hidden: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = d_in
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def _keys(names: list[str]) -> dict[str, str]:
    """Module keys by position: encoder names may hold dots, which nn.ModuleDict refuses."""
    return {name: f"e{i}" for i, name in enumerate(names)}


class LatentModel(nn.Module):
    """A_i, T, B_i for every encoder (the generator); encoders in sorted order, so saved keys do not depend on
    the order a caller listed them in."""

    def __init__(
        self, dims: Mapping[str, int], latent: int, hidden: int, adapter_depth: int, backbone_depth: int
    ) -> None:
        super().__init__()
        self.names = sorted(dims)
        self.dims = dict(dims)
        self.keys = _keys(self.names)
        self.latent = latent
        self.inputs = nn.ModuleDict(
            {self.keys[n]: ResidualMLP(dims[n], latent, latent, hidden, adapter_depth) for n in self.names}
        )
        self.backbone = ResidualMLP(latent, latent, latent, hidden, backbone_depth)
        self.outputs = nn.ModuleDict(
            {self.keys[n]: ResidualMLP(latent, dims[n], latent, hidden, adapter_depth) for n in self.names}
        )

    def embed(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """T(A_name(x)): the universal latent (where the latent discriminators look)."""
        return self.backbone(self.inputs[self.keys[name]](x))

    def decode(self, z: torch.Tensor, name: str) -> torch.Tensor:
        """unit(B_name(z)): a vector in `name`'s frame."""
        return F.normalize(self.outputs[self.keys[name]](z), dim=-1)

    def translate(self, x: torch.Tensor, src: str, dst: str) -> torch.Tensor:
        return self.decode(self.embed(x, src), dst)

    def embed_many(self, items: Sequence[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        """embed() of several (encoder, rows) at once: one adapter call per encoder and one backbone call in all.

        Rows are independent (LayerNorm is per row), so this equals separate calls; it exists because a training
        step is many tiny matmuls, where per-call overhead, not arithmetic, sets the speed on CPU.
        """
        adapted = _per_name(self.inputs, self.keys, items)
        return list(self.backbone(torch.cat(adapted)).split([len(a) for a in adapted]))

    def decode_many(self, items: Sequence[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        """decode() of several (encoder, latents) at once: one output-adapter call per encoder."""
        return [F.normalize(y, dim=-1) for y in _per_name(self.outputs, self.keys, items)]


def _per_name(
    modules: nn.ModuleDict, keys: Mapping[str, str], items: Sequence[tuple[str, torch.Tensor]]
) -> list[torch.Tensor]:
    """Apply modules[name] to each item's rows, batching all items of one name into one call; input order kept."""
    groups: dict[str, list[int]] = {}
    for i, (name, _) in enumerate(items):
        groups.setdefault(name, []).append(i)
    out: list[torch.Tensor] = [torch.empty(0)] * len(items)
    for name, idx in groups.items():
        ys = modules[keys[name]](torch.cat([items[i][1] for i in idx])).split([len(items[i][1]) for i in idx])
        for i, y in zip(idx, ys, strict=True):
            out[i] = y
    return out


class Critics(nn.Module):
    """Training-only discriminators: one per output space (real vs translated), one per encoder in the latent."""

    def __init__(self, dims: Mapping[str, int], latent: int, hidden: int, depth: int) -> None:
        super().__init__()
        names = sorted(dims)
        self.keys = _keys(names)
        self.outputs = nn.ModuleDict({self.keys[n]: Discriminator(dims[n], hidden, depth) for n in names})
        self.latents = nn.ModuleDict({self.keys[n]: Discriminator(latent, hidden, depth) for n in names})

    def output(self, name: str) -> nn.Module:
        return self.outputs[self.keys[name]]

    def latent(self, name: str) -> nn.Module:
        return self.latents[self.keys[name]]


def _linears(module: nn.Module) -> Iterator[nn.Linear]:
    return (m for m in module.modules() if isinstance(m, nn.Linear))


@torch.no_grad()
def init_random(module: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default Linear init (uniform +-1/sqrt(fan_in)), drawn from `generator` instead of the global RNG."""
    for lin in _linears(module):
        bound = 1.0 / np.sqrt(lin.in_features)
        lin.weight.uniform_(-bound, bound, generator=generator)
        if lin.bias is not None:
            lin.bias.uniform_(-bound, bound, generator=generator)


@torch.no_grad()
def _set_linear(lin: nn.Linear, weight: np.ndarray) -> None:
    """Set `lin` to x -> x @ weight (weight: (in, out), zero-padded into the layer's shape), no bias."""
    lin.weight.zero_()
    lin.weight[: weight.shape[1], : weight.shape[0]] = torch.as_tensor(weight.T, dtype=lin.weight.dtype)
    if lin.bias is not None:
        lin.bias.zero_()


@torch.no_grad()
def init_from_maps(model: LatentModel, maps: Mapping[tuple[str, str], np.ndarray], hub: str) -> None:
    """Start the generator at a linear solution routed through `hub`'s frame.

    A_i = x -> x @ W_{i->hub} (zero-padded to the latent width), T = identity, B_j = z -> z[:d_hub] @ W_{hub->j},
    every residual block's last layer zeroed, so translate(i->j) = unit(x W_{i->hub} W_{hub->j}) exactly at step 0
    (equal to W_{i->j} when the linear maps are cycle-consistent through the hub, and for every pair involving it).
    The blocks' first layers keep their random init, so gradients reach the zeroed layers from the first step.
    """
    eye = np.eye(model.dims[hub], dtype=np.float32)
    for mlp in (*model.inputs.values(), model.backbone, *model.outputs.values()):
        assert isinstance(mlp, ResidualMLP)
        for block in mlp.blocks:
            assert isinstance(block, ResidualBlock)
            block.down.weight.zero_()
            block.down.bias.zero_()
    latent_eye = np.eye(model.latent, dtype=np.float32)
    for name in model.names:
        a, b = model.inputs[model.keys[name]], model.outputs[model.keys[name]]
        assert isinstance(a, ResidualMLP) and isinstance(b, ResidualMLP)
        _set_linear(a.proj_in, eye if name == hub else maps[(name, hub)])
        _set_linear(a.proj_out, latent_eye)
        _set_linear(b.proj_in, latent_eye)
        _set_linear(b.proj_out, eye if name == hub else maps[(hub, name)])
    _set_linear(model.backbone.proj_in, latent_eye)
    _set_linear(model.backbone.proj_out, latent_eye)
