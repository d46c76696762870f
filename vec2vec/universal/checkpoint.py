"""Training checkpoints: tensors in safetensors, everything else in JSON, written atomically; nothing is unpickled.

A checkpoint is one directory `<checkpoint_dir>/last` holding `tensors.safetensors` and `meta.json`; it is
replaced as a whole (atomic_dir), so a run killed mid-write leaves the previous checkpoint readable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vec2vec.atomic import atomic_dir, remove_stale_temps

LAST = "last"
TENSORS_FILE = "tensors.safetensors"
META_FILE = "meta.json"


def save_checkpoint(directory: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    target = Path(directory) / LAST
    with atomic_dir(target) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / TENSORS_FILE))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return target


def load_checkpoint(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The last checkpoint under `directory`, or None if there is none (or it is unreadable: start afresh)."""
    directory = Path(directory)
    remove_stale_temps(directory)  # a writer killed mid-save leaves only temporaries
    target = directory / LAST
    if not (target / TENSORS_FILE).exists() or not (target / META_FILE).exists():
        return None
    try:
        meta = json.loads((target / META_FILE).read_text())
        tensors = load_file(str(target / TENSORS_FILE))
    except (json.JSONDecodeError, SafetensorError, OSError):
        return None
    return tensors, meta


def optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Per-parameter optimiser state as flat named tensors (`prefix:param_index:field`)."""
    out = {}
    for idx, state in opt.state_dict()["state"].items():
        for field, value in state.items():
            out[f"{prefix}:{idx}:{field}"] = torch.as_tensor(value)
    return out


def load_optimizer_tensors(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    """Restore what optimizer_tensors saved; hyper-parameters come from the optimiser as built (the config)."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        head, _, rest = key.partition(":")
        if head == prefix:
            idx, _, field = rest.partition(":")
            state.setdefault(int(idx), {})[field] = value
    sd = opt.state_dict()
    sd["state"] = state
    opt.load_state_dict(sd)
