"""Linear translators: each encoder's centred frame (frames.py) plus one matrix per ordered encoder pair.

Subclasses only choose the matrices.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

from vec2vec.universal.aligner import Aligner
from vec2vec.universal.frames import Frames


def procrustes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The (semi-)orthogonal W minimising ||xW - y|| for row-paired x (n, d_x), y (n, d_y): U V^T of svd(x^T y).

    With d_x != d_y, W has orthonormal rows or columns (whichever is the smaller side), so the map is an
    isometry into the wider space or a projection from it.
    """
    return polar(x.T.astype(np.float64) @ y.astype(np.float64))


def polar(m: np.ndarray) -> np.ndarray:
    """The nearest (semi-)orthogonal matrix to `m` (its polar factor)."""
    u, _, vt = np.linalg.svd(m, full_matrices=False)
    return (u @ vt).astype(np.float32)


def random_orthogonal(d_in: int, d_out: int, rng: np.random.Generator) -> np.ndarray:
    return polar(rng.standard_normal((d_in, d_out)))


def pair_key(src: str, dst: str) -> str:
    return f"map:{src}->{dst}"


class LinearAligner(Aligner):
    """Shared state and transform of every linear method; `_fit` fits `frames` and fills `maps`."""

    def __init__(self, config: object = None) -> None:
        super().__init__(config)
        self.frames = Frames()
        self.maps: dict[tuple[str, str], np.ndarray] = {}

    def set_orthogonal(self, a: str, b: str, w: np.ndarray) -> None:
        """Store an orthogonal map a->b and its inverse (the transpose) b->a."""
        self.maps[(a, b)] = w.astype(np.float32)
        self.maps[(b, a)] = np.ascontiguousarray(w.T, dtype=np.float32)

    def compose_through(self, hub: str) -> None:
        """Maps between every two non-hub encoders, composed from their maps to and from `hub`."""
        others = [n for n in self.dims if n != hub]
        for a, b in itertools.permutations(others, 2):
            self.maps[(a, b)] = self.maps[(a, hub)] @ self.maps[(hub, b)]

    def translate_frame(self, y: np.ndarray, src: str, dst: str) -> np.ndarray:
        """Frame-to-frame translation (what alignment objectives see)."""
        return y @ self.maps[(src, dst)]

    def _transform(self, x: np.ndarray, src: str, dst: str) -> np.ndarray:
        frames = self.frames
        return frames.from_frame(self.translate_frame(frames.to_frame(x, src), src, dst), dst)

    def state(self) -> dict[str, np.ndarray]:
        return self.frames.state() | {pair_key(s, d): w for (s, d), w in self.maps.items()}

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.frames.load_state(arrays, self.dims)
        self.maps = {}
        for s in self.dims:
            for d in self.dims:
                if s != d:
                    w = arrays[pair_key(s, d)]
                    if w.shape != (self.dims[s], self.dims[d]):
                        raise ValueError(f"map {s}->{d} has shape {w.shape}, expected ({self.dims[s]}, {self.dims[d]})")
                    self.maps[(s, d)] = w
