"""Typed dataclass configs, settable from one TOML file (tables map to nested dataclasses)."""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or value does not fit the config's fields."""


def _tuples(value: Any) -> Any:
    """TOML/JSON arrays as (nested) tuples, so a config read back equals the one written."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a mapping, recursing into nested dataclasses; unknown keys are errors."""
    where = where or cls.__name__
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
        if value is False and optional and any(is_dataclass(a) for a in typing.get_args(hint)):
            value = None  # TOML has no null: `false` turns an optional stage (e.g. linear_start) off
        if isinstance(hint, types.UnionType) and isinstance(value, Mapping):  # e.g. `SomeConfig | None`
            hint = next((a for a in typing.get_args(hint) if is_dataclass(a)), hint)
        items = typing.get_args(hint)[:1] if typing.get_origin(hint) is tuple else ()
        if is_dataclass(hint) and isinstance(value, Mapping):
            value = from_dict(hint, value, f"{where}.{name}")  # type: ignore[arg-type]
        elif items and is_dataclass(items[0]) and isinstance(value, list | tuple):  # e.g. `tuple[Stage, ...]`
            value = tuple(
                from_dict(items[0], v, f"{where}.{name}[{i}]") if isinstance(v, Mapping) else v  # type: ignore[arg-type]
                for i, v in enumerate(value)
            )
        elif typing.get_origin(hint) is tuple or (
            isinstance(hint, types.UnionType) and any(typing.get_origin(a) is tuple for a in typing.get_args(hint))
        ):
            value = _tuples(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def load_toml(cls: type[T], path: str | Path, section: str | None = None) -> T:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    if section is not None:
        data = data.get(section, {})
    return from_dict(cls, data, f"{path}" + (f" [{section}]" if section else ""))
