"""Make the PyPI torchvision wheel (built against CUDA torch) importable with the CPU-only torch wheel.

The wheel's compiled ops cannot load without CUDA torch, yet torchvision registers fake kernels for
`torchvision::nms` at import time, which fails unless the op schema exists. Defining the two schemas is
enough for transformers, sentence-transformers, timm and open_clip to import; the compiled ops then raise
a clean RuntimeError if called (vec2vec never calls them).
"""

from __future__ import annotations

import glob
import importlib.abc
import importlib.util
import os
import sys
from typing import Any

_LIB: Any = None


def ensure_torchvision_importable() -> bool:
    """Call before the first `import torchvision`. Returns True if torchvision's real compiled ops loaded."""
    global _LIB
    if _LIB is not None or "torchvision" in sys.modules:
        return False
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    import torch

    for so in glob.glob(os.path.join(next(iter(spec.submodule_search_locations)), "_C*.so")):
        try:
            torch.ops.load_library(so)
            return True
        except (OSError, RuntimeError):
            pass
    _LIB = torch.library.Library("torchvision", "FRAGMENT")
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    return False


class _Hook(importlib.abc.MetaPathFinder):
    """Runs the shim right before the first `import torchvision`; imports nothing until then."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == "torchvision":
            sys.meta_path.remove(self)
            ensure_torchvision_importable()
        return None


def install_import_hook() -> None:
    if "torchvision" not in sys.modules and not any(isinstance(f, _Hook) for f in sys.meta_path):
        sys.meta_path.insert(0, _Hook())
