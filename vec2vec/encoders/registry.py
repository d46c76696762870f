"""Encoders by name: built-ins, generic `st:` / `clip:` references, and user registrations.

Users register an encoder factory with `register_encoder(name, factory)` or, for a package, through the
`vec2vec.encoders` entry-point group (`name = "module:factory"`); a factory takes no arguments and returns an
`Encoder`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from vec2vec.encoders.base import Encoder
from vec2vec.encoders.builtin import BUILTIN, SentenceTransformerEncoder
from vec2vec.encoders.openclip import OpenClipTextEncoder

ENTRY_POINT_GROUP = "vec2vec.encoders"
_USER: dict[str, Callable[[], Encoder]] = {}


class UnknownEncoder(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register_encoder(name: str, factory: Callable[[], Encoder]) -> None:
    """Make `name` resolve to `factory()`; a name may not shadow a built-in or contain ':'."""
    if ":" in name or not name:
        raise ValueError(f"encoder name {name!r} must be non-empty and contain no ':'")
    if name in BUILTIN:
        raise ValueError(f"{name!r} is a built-in encoder; pick another name")
    _USER[name] = factory


def _entry_point_factories() -> dict[str, Callable[[], Encoder]]:
    return {ep.name: ep.load for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _registered() -> dict[str, Callable[[], Encoder]]:
    found: dict[str, Callable[[], Encoder]] = dict(BUILTIN)
    for name, load in _entry_point_factories().items():
        found.setdefault(name, lambda load=load: load()())  # type: ignore[misc]
    found.update(_USER)
    return found


def encoder_names() -> list[str]:
    return list(_registered())


def get_encoder(name: str) -> Encoder:
    """Resolve a name: a registered one, `st:<model id or path>`, or `clip:<arch>:<weights>`."""
    if name.startswith("st:") and len(name) > 3:
        return SentenceTransformerEncoder(name, name[3:])
    if name.startswith("clip:"):
        parts = name.split(":", 2)
        if len(parts) != 3 or not all(parts[1:]):
            raise UnknownEncoder(f"bad CLIP reference {name!r}; expected clip:<arch>:<weights or path or random>")
        return OpenClipTextEncoder(name, parts[1], parts[2])
    factories = _registered()
    if name not in factories:
        raise UnknownEncoder(
            f"unknown encoder {name!r}; known: {', '.join(factories)}; or use st:<model id or path> "
            "or clip:<arch>:<weights>"
        )
    encoder = factories[name]()
    if not isinstance(encoder, Encoder):
        raise TypeError(f"factory for {name!r} returned {type(encoder).__name__}, not an Encoder")
    encoder.name = name
    return encoder


def get_encoders(names: list[str]) -> list[Encoder]:
    if not names:
        raise ValueError("no encoders given; fix: pass e.g. --encoders minilm,use (see `vec2vec encoders list`)")
    if len(set(names)) != len(names):
        raise ValueError(f"encoder listed twice in {names}")
    return [get_encoder(n) for n in names]
