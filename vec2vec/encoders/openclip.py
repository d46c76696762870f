"""CLIP text towers from open_clip, by architecture name and weights (`clip:<arch>:<weights>`).

`<arch>` is an open_clip model name or a path to a model-config JSON; `<weights>` is a `.safetensors` file, an
open_clip pretrained tag (downloaded from the hub, so online only), or `random` (seed-0 random init, a
real model without trained weights: useful to test the plumbing offline, useless for translation quality).
"""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np

from vec2vec.encoders.base import Encoder, EncoderUnavailable
from vec2vec.runtime import cpu_threads

RANDOM_SEED = 0


class OpenClipTextEncoder(Encoder):
    family = "clip text tower (open_clip)"
    requires = ("open_clip",)
    install_hint = "pip install -c constraints.txt 'vec2vec[clip]' (the constraints keep CPU torch)"

    def __init__(self, name: str, arch: str, weights: str) -> None:
        super().__init__()
        self.name, self.arch, self.weights = name, arch, weights

    @property
    def fingerprint(self) -> str:
        return f"clip:{self.arch}:{self.weights}"

    def _arch_name(self) -> str:
        import open_clip

        path = Path(self.arch)
        if path.suffix == ".json":
            if not path.is_file():
                raise FileNotFoundError(f"open_clip model config {path} does not exist")
            open_clip.add_model_config(path)
            return path.stem
        if self.arch not in open_clip.list_models():
            raise EncoderUnavailable(
                f"open_clip has no architecture {self.arch!r}; fix: pick one of open_clip.list_models() "
                "or pass a model-config .json path"
            )
        return self.arch

    def _load(self) -> object:
        import open_clip
        import torch

        torch.set_num_threads(cpu_threads())
        arch = self._arch_name()
        if self.weights == "random":
            with torch.random.fork_rng():
                torch.manual_seed(RANDOM_SEED)
                model = open_clip.create_model(arch, pretrained=None)
        elif self.weights.endswith(".safetensors") or Path(self.weights).exists():
            if not self.weights.endswith(".safetensors"):
                raise ValueError(
                    f"refusing to load {self.weights}: only .safetensors weights are loaded (no pickle); "
                    "fix: convert with safetensors.torch.save_file(model.state_dict(), 'x.safetensors')"
                )
            from safetensors.torch import load_file

            model = open_clip.create_model(arch, pretrained=None)
            model.load_state_dict(load_file(self.weights))
        else:
            try:
                model = open_clip.create_model(arch, pretrained=self.weights)
            except Exception as exc:  # hub download or unknown tag
                raise EncoderUnavailable(
                    f"could not load open_clip weights {self.weights!r} for {arch}: {exc}; fix: go online, "
                    "or pass a local .safetensors file"
                ) from exc
        model.eval()
        return model, open_clip.get_tokenizer(arch)

    def _embed(self, texts: list[str]) -> np.ndarray:
        import torch

        model, tokenizer = typing.cast(tuple, self._model)
        with torch.inference_mode():
            return model.encode_text(tokenizer(texts)).float().numpy()
