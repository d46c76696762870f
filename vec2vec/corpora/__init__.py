"""Corpus registry: real text corpora as uniform (id, text, label, source) records."""

from vec2vec.corpora.base import CorpusSpec, Record, Role
from vec2vec.corpora.clean import CleanConfig, CleanStats, clean
from vec2vec.corpora.files import CorpusFileError
from vec2vec.corpora.packages import DataMissing, DataPackage, FetchError
from vec2vec.corpora.registry import UnknownCorpus, corpora, get_corpus, register_corpus

__all__ = [
    "CleanConfig",
    "CleanStats",
    "CorpusFileError",
    "CorpusSpec",
    "DataMissing",
    "DataPackage",
    "FetchError",
    "Record",
    "Role",
    "UnknownCorpus",
    "clean",
    "corpora",
    "get_corpus",
    "register_corpus",
]
