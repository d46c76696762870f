"""Encoder registry: real embedding models behind one lazy interface."""

from vec2vec.encoders.base import Encoder, EncoderUnavailable, l2_normalise
from vec2vec.encoders.builtin import CORE
from vec2vec.encoders.registry import (
    UnknownEncoder,
    encoder_names,
    get_encoder,
    get_encoders,
    register_encoder,
)

__all__ = [
    "CORE",
    "Encoder",
    "EncoderUnavailable",
    "UnknownEncoder",
    "encoder_names",
    "get_encoder",
    "get_encoders",
    "l2_normalise",
    "register_encoder",
]
