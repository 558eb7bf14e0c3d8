# The two commands of the README:
#   make run VIDEO=path/to/clip.mp4   set up .venv (first time only), then run LiftRig on the video
#   make test                         set up .venv (first time only), then run the tests
PYTHON ?= python3.11
VENV := .venv
# Extra pip arguments for torch, e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu128"
TORCH_PIP_ARGS ?=
VIDEO ?=
OUT ?= $(basename $(notdir $(VIDEO))).bvh

.PHONY: run test setup

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet "torch==2.13.0" $(TORCH_PIP_ARGS)
	$(VENV)/bin/python -m pip install --quiet -e ".[test,blender]"
	touch $@

run: $(VENV)/.installed
	@test -n "$(VIDEO)" || { echo "usage: make run VIDEO=path/to/clip.mp4"; exit 2; }
	$(VENV)/bin/liftrig lift "$(VIDEO)" -o "$(OUT)"

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest
