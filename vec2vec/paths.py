"""Where vec2vec keeps fetched data packages and derived caches (override with VEC2VEC_HOME)."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    root = os.environ.get("VEC2VEC_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vec2vec"
    )
    path = Path(root).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
