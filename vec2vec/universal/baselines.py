"""Reference points every evaluation table carries: no map, a random map, and supervised ceilings.

The oracles are fitted on *true pairs* (`paired = True`), which users do not have; they bound what a linear
map can reach on the same number of vectors, so unsupervised results read as a fraction of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import RidgeCV

from vec2vec.universal.aligner import Aligner, AlignerError, register_aligner
from vec2vec.universal.linear import LinearAligner, procrustes, random_orthogonal


@dataclass(frozen=True)
class NoConfig:
    pass


@register_aligner
class Identity(Aligner):
    """Raw vectors passed through unchanged: only defined between spaces of one width."""

    kind = "identity"
    Config = NoConfig

    def _fit(self, spaces: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        if len(set(self.dims.values())) > 1:
            raise AlignerError(f"identity needs one width for all encoders, got {self.dims}")

    def _transform(self, x: np.ndarray, src: str, dst: str) -> np.ndarray:
        return x

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        pass


@register_aligner
class RandomOrthogonal(LinearAligner):
    """A random (semi-)orthogonal map between centred frames: the chance level."""

    kind = "random"
    Config = NoConfig

    def _fit(self, spaces: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        self.frames.fit(spaces)
        for a, b in itertools.combinations(spaces, 2):
            self.set_orthogonal(a, b, random_orthogonal(self.dims[a], self.dims[b], rng))


@register_aligner
class OracleProcrustes(LinearAligner):
    """Orthogonal Procrustes on true pairs: the ceiling for an orthogonal map."""

    kind = "oracle-procrustes"
    paired = True
    Config = NoConfig

    def _fit(self, spaces: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        framed = self.frames.fit(spaces)
        for a, b in itertools.combinations(spaces, 2):
            self.set_orthogonal(a, b, procrustes(framed[a], framed[b]))


@dataclass(frozen=True)
class RidgeConfig:
    alphas: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)  # chosen by leave-one-out on the training pairs


@register_aligner
class OracleRidge(LinearAligner):
    """Ridge regression on true pairs, each direction: the ceiling for an unconstrained linear map."""

    kind = "oracle-ridge"
    paired = True
    Config = RidgeConfig

    def _fit(self, spaces: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        framed = self.frames.fit(spaces)
        for a, b in itertools.permutations(spaces, 2):
            model = RidgeCV(alphas=self.config.alphas, fit_intercept=False).fit(framed[a], framed[b])
            self.maps[(a, b)] = np.ascontiguousarray(model.coef_.T, dtype=np.float32)
            self.fit_info[f"alpha:{a}->{b}"] = float(model.alpha_)
