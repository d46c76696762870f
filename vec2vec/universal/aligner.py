"""The one interface every translation method and baseline implements, so evaluation sees only this.

An aligner is fitted on vectors of two or more encoders (`fit({name: vectors}, rng)`). Unsupervised methods get
*unpaired* vectors (different texts per encoder); supervised baselines (`paired = True`) get row-aligned true
pairs and exist only as ceilings. `transform(x, src, dst)` maps raw `src` vectors into `dst`'s raw space
(L2-normalised, like encoder output). `save`/`load` use JSON + safetensors: nothing is unpickled.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from vec2vec import __version__
from vec2vec.atomic import atomic_dir
from vec2vec.config import from_dict

CONFIG_FILE = "aligner.json"
WEIGHTS_FILE = "weights.safetensors"


class AlignerError(ValueError):
    """Bad input to an aligner (unknown encoder, wrong width, NaN rows) or an unreadable saved aligner."""


_KINDS: dict[str, type[Aligner]] = {}


def register_aligner(cls: type[Aligner]) -> type[Aligner]:
    """Class decorator: make `cls` loadable by its `kind`."""
    if cls.kind in _KINDS and _KINDS[cls.kind] is not cls:
        raise ValueError(f"aligner kind {cls.kind!r} is registered twice")
    _KINDS[cls.kind] = cls
    return cls


def aligner_kinds() -> dict[str, type[Aligner]]:
    return dict(_KINDS)


def unusable_rows(x: np.ndarray) -> np.ndarray:
    """Boolean mask of rows with no translation: NaN/inf anywhere, or all zero."""
    return ~np.isfinite(x).all(axis=1) | ~(np.abs(x).sum(axis=1) > 0)


def check_vectors(x: np.ndarray, dim: int | None, what: str) -> np.ndarray:
    """`x` as a finite float32 (n, dim) array, or an AlignerError naming the problem and the fix."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise AlignerError(f"{what}: expected a 2-d (n, dim) array, got shape {x.shape}")
    if len(x) == 0:
        raise AlignerError(f"{what}: no vectors; embed some texts first")
    if dim is not None and x.shape[1] != dim:
        raise AlignerError(
            f"{what}: vectors are {x.shape[1]}-d but this encoder's space is {dim}-d; "
            "fix: pass vectors from the encoder the aligner was fitted on"
        )
    x = x.astype(np.float32, copy=False)
    bad = unusable_rows(x)
    if bad.any():
        raise AlignerError(
            f"{what}: {int(bad.sum())} rows are NaN/inf or all zero (first at row {int(np.argmax(bad))}); "
            "fix: drop those rows before translating"
        )
    return x


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class Aligner(ABC):
    """Base class: config dataclass, per-encoder widths, fit/transform, safe persistence."""

    kind: ClassVar[str]
    paired: ClassVar[bool] = False  # True: fit() treats row i of every space as one text (supervised ceiling)
    Config: ClassVar[type]  # a dataclass

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()
        self.dims: dict[str, int] = {}
        self.fit_info: dict[str, Any] = {}  # what the fit measured: timings, label-free score, stages

    @property
    def encoders(self) -> tuple[str, ...]:
        return tuple(self.dims)

    def fit(self, spaces: Mapping[str, np.ndarray], rng: np.random.Generator) -> Self:
        """Fit on `{encoder: vectors}` (two or more encoders); unpaired unless `paired`."""
        if len(spaces) < 2:
            raise AlignerError(f"need vectors of at least 2 encoders to align, got {list(spaces)}")
        checked = {name: check_vectors(x, None, f"{name} training vectors") for name, x in spaces.items()}
        if self.paired and len({len(x) for x in checked.values()}) > 1:
            raise AlignerError(f"{self.kind} is fitted on true pairs: every encoder needs the same rows")
        self.dims = {name: int(x.shape[1]) for name, x in checked.items()}
        self._fit(checked, rng)
        return self

    def transform(self, x: np.ndarray, src: str, dst: str) -> np.ndarray:
        """Translate raw `src` vectors into `dst`'s space (L2-normalised rows)."""
        self.check_encoders(src, dst)
        x = check_vectors(x, self.dims[src], f"{src} vectors")
        if src == dst:
            return unit(x)
        return unit(self._transform(x, src, dst)).astype(np.float32)

    def check_encoders(self, *names: str) -> None:
        for name in names:
            if name not in self.dims:
                raise AlignerError(
                    f"this {self.kind} translator does not know encoder {name!r}; it knows {list(self.dims)}"
                )

    @abstractmethod
    def _fit(self, spaces: dict[str, np.ndarray], rng: np.random.Generator) -> None: ...

    @abstractmethod
    def _transform(self, x: np.ndarray, src: str, dst: str) -> np.ndarray: ...

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """Named arrays that, with the config and dims, fully define the fitted aligner."""

    @abstractmethod
    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None: ...

    def save(self, path: str | Path) -> Path:
        """Write `<path>/aligner.json` + `<path>/weights.safetensors` atomically (the directory is replaced)."""
        if not self.dims:
            raise AlignerError("fit the aligner before saving it")
        meta = {
            "kind": self.kind,
            "vec2vec_version": __version__,
            "config": dataclasses.asdict(self.config),
            "dims": self.dims,
            "fit_info": self.fit_info,
        }
        path = Path(path)
        with atomic_dir(path) as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in self.state().items()}, str(tmp / WEIGHTS_FILE))
            (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return path


def load_aligner(path: str | Path) -> Aligner:
    """Load a saved aligner of any registered kind; clear errors for a missing or corrupt directory."""
    path = Path(path)
    cfg_file, weights = path / CONFIG_FILE, path / WEIGHTS_FILE
    if not cfg_file.exists() or not weights.exists():
        raise AlignerError(
            f"{path} is not a saved aligner (needs {CONFIG_FILE} and {WEIGHTS_FILE}); run `vec2vec train`"
        )
    import vec2vec.universal.methods  # noqa: F401  (registers the built-in kinds)

    try:
        meta = json.loads(cfg_file.read_text())
        cls = _KINDS[meta["kind"]]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise AlignerError(f"{cfg_file} is corrupt or of an unknown kind ({exc}); re-run `vec2vec train`") from exc
    try:
        arrays = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise AlignerError(f"{weights} is corrupt ({exc}); re-run `vec2vec train`") from exc
    aligner = cls(from_dict(cls.Config, meta["config"], f"{cfg_file} config"))
    aligner.dims = {str(k): int(v) for k, v in meta["dims"].items()}
    aligner.fit_info = meta.get("fit_info", {})
    try:
        aligner.load_state(arrays)
    except (KeyError, ValueError) as exc:
        raise AlignerError(f"{weights} does not match {cfg_file} ({exc}); re-run `vec2vec train`") from exc
    return aligner
