"""vec2vec: translate text embeddings between models without paired data, through a universal latent."""

from vec2vec._torchvision_cpu import install_import_hook

__version__ = "0.1.0"

# PyPI's torchvision is a CUDA build; with CPU torch its import (and so transformers and open_clip) fails
# unless the shim runs first. Installing the hook costs nothing until torchvision is imported.
install_import_hook()
