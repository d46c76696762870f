"""The one interface every encoder implements, and the row normalisation they share."""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class EncoderUnavailable(RuntimeError):
    """The encoder's model or package is not installed here; the message says how to install it."""


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Float32 unit rows; rows that are non-finite or have zero norm become all-NaN so callers can drop them."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    bad = ~np.isfinite(norms) | (norms <= 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = x / np.where(bad, 1.0, norms)
    out[bad[:, 0]] = np.nan
    return out


def invalid_rows(x: np.ndarray) -> np.ndarray:
    """Boolean mask of rows an encoder could not embed (see l2_normalise)."""
    return ~np.isfinite(x).all(axis=1)


class Encoder(ABC):
    """A text embedding model, loaded lazily so that listing or pickling it (to a Ray actor) is cheap.

    Subclasses set `name`, `family` and `requires` (import names that must be present), and implement
    `_load` and `_embed`. `encode` returns float32 (n, dim) L2-normalised rows; a row the model could not
    embed (e.g. WordLlama on empty text gives NaN) is all-NaN, for the caller to drop and count.
    """

    name: str
    family: str
    requires: tuple[str, ...] = ()
    install_hint: str = ""

    def __init__(self) -> None:
        self._model: object | None = None
        self._dim: int | None = None

    @property
    def installed(self) -> bool:
        return all(importlib.util.find_spec(mod) is not None for mod in self.requires)

    @property
    def known_dim(self) -> int | None:
        """The width if known without loading the model (built-ins declare it), else None."""
        return self._dim

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode(["dimension probe"]).shape[1])
        return self._dim

    @property
    def fingerprint(self) -> str:
        """Identifies the exact model, so vectors from a different model under the same name are caught."""
        return self.name

    def require(self) -> None:
        """Raise EncoderUnavailable, naming the install command, if the model is not installed."""
        if not self.installed:
            raise EncoderUnavailable(
                f"encoder {self.name!r} is not installed; fix: {self.install_hint or 'install its package'}"
            )

    def load(self) -> None:
        if self._model is None:
            self.require()
            self._model = self._load()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.load()
        out = [self._embed(list(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
        x = np.concatenate(out) if out else np.zeros((0, self._dim or 0), np.float32)
        x = l2_normalise(x)
        if len(x):
            self._dim = x.shape[1]
        return x

    def __getstate__(self) -> dict:
        # Ship the recipe, not the loaded model: the receiving process loads its own copy.
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @abstractmethod
    def _load(self) -> object: ...

    @abstractmethod
    def _embed(self, texts: list[str]) -> np.ndarray:
        """Raw (unnormalised is fine) float array (len(texts), dim) for one batch."""
