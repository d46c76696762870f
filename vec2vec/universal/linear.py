"""Linear translators: each encoder's centred frame plus one matrix per ordered encoder pair.

Every linear method works in a *frame*: x -> unit(x - mean), with the mean taken on that encoder's own
(unpaired) training vectors, because encoder spaces are anisotropic (a shared offset dominates raw cosine).
A prediction is mapped back with the target's mean and mean centred norm, then L2-normalised like encoder
output. Subclasses only choose the matrices.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from vec2vec.universal.aligner import Aligner, unit


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
    """Shared state and transform of every linear method; `_fit` fills `means`, `scales`, `maps`."""

    def __init__(self, config: object = None) -> None:
        super().__init__(config)
        self.means: dict[str, np.ndarray] = {}
        self.scales: dict[str, float] = {}  # mean norm of centred training vectors
        self.maps: dict[tuple[str, str], np.ndarray] = {}

    def set_frames(self, spaces: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Record each encoder's frame from its training vectors; return those vectors in their frames."""
        framed = {}
        for name, x in spaces.items():
            self.means[name] = x.mean(axis=0)
            centred = x - self.means[name]
            self.scales[name] = float(np.linalg.norm(centred, axis=1).mean())
            framed[name] = unit(centred).astype(np.float32)
        return framed

    def to_frame(self, x: np.ndarray, name: str) -> np.ndarray:
        return unit(x - self.means[name]).astype(np.float32)

    def from_frame(self, y: np.ndarray, name: str) -> np.ndarray:
        return unit(y) * self.scales[name] + self.means[name]

    def set_orthogonal(self, a: str, b: str, w: np.ndarray) -> None:
        """Store an orthogonal map a->b and its inverse (the transpose) b->a."""
        self.maps[(a, b)] = w.astype(np.float32)
        self.maps[(b, a)] = np.ascontiguousarray(w.T, dtype=np.float32)

    def translate_frame(self, y: np.ndarray, src: str, dst: str) -> np.ndarray:
        """Frame-to-frame translation (what alignment objectives see)."""
        return y @ self.maps[(src, dst)]

    def _transform(self, x: np.ndarray, src: str, dst: str) -> np.ndarray:
        return self.from_frame(self.translate_frame(self.to_frame(x, src), src, dst), dst)

    def state(self) -> dict[str, np.ndarray]:
        arrays = {f"mean:{n}": m.astype(np.float32) for n, m in self.means.items()}
        arrays |= {f"scale:{n}": np.asarray([s], np.float32) for n, s in self.scales.items()}
        arrays |= {pair_key(s, d): w for (s, d), w in self.maps.items()}
        return arrays

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.means = {n: arrays[f"mean:{n}"] for n in self.dims}
        self.scales = {n: float(arrays[f"scale:{n}"][0]) for n in self.dims}
        self.maps = {}
        for s in self.dims:
            for d in self.dims:
                if s != d:
                    w = arrays[pair_key(s, d)]
                    if w.shape != (self.dims[s], self.dims[d]):
                        raise ValueError(f"map {s}->{d} has shape {w.shape}, expected ({self.dims[s]}, {self.dims[d]})")
                    self.maps[(s, d)] = w
