"""Each encoder's centred frame: x -> unit(x - mean), and back with the mean and the mean centred norm.

Encoder spaces are anisotropic (a shared offset dominates raw cosine), so every method aligns centred,
normalised vectors. The mean comes from that encoder's own (unpaired) training vectors. Predictions are mapped
back with the target's mean and mean centred norm, then L2-normalised like encoder output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from vec2vec.universal.aligner import unit


class Frames:
    """Per-encoder mean and scale, fitted once, persisted beside an aligner's weights."""

    def __init__(self) -> None:
        self.means: dict[str, np.ndarray] = {}
        self.scales: dict[str, float] = {}  # mean norm of centred training vectors

    def fit(self, spaces: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
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

    def state(self) -> dict[str, np.ndarray]:
        arrays = {f"mean:{n}": m.astype(np.float32) for n, m in self.means.items()}
        return arrays | {f"scale:{n}": np.asarray([s], np.float32) for n, s in self.scales.items()}

    def load_state(self, arrays: Mapping[str, np.ndarray], names: Iterable[str]) -> None:
        self.means = {n: np.asarray(arrays[f"mean:{n}"], np.float32) for n in names}
        self.scales = {n: float(arrays[f"scale:{n}"][0]) for n in names}
