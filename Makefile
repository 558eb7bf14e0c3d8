# The two commands of the README:
#   make run VIDEO=path/to/clip.mp4   set up .venv (first time only), then run LiftRig on the video
#   make test                         set up .venv (first time only), then run the tests
# For maintainers:
#   make test-latest                  the tests on the newest releases pyproject.toml admits (.venv-latest)
#   make lock                         write constraints.txt from .venv-latest (after test-latest passed)
PYTHON ?= python3.11
VENV := .venv
# Extra pip arguments for torch, e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu128"
TORCH_PIP_ARGS ?=
VIDEO ?=
OUT ?= out/$(basename $(notdir $(VIDEO))).bvh
# Every package at the version the tests passed on (pyproject.toml keeps the ranges).
CONSTRAINTS := constraints.txt

.PHONY: run test setup test-latest lock

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet torch -c $(CONSTRAINTS) $(TORCH_PIP_ARGS)
	$(VENV)/bin/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[test,blender]"
	touch $@

run: $(VENV)/.installed
	@test -n "$(VIDEO)" || { echo "usage: make run VIDEO=path/to/clip.mp4"; exit 2; }
	$(VENV)/bin/liftrig lift "$(VIDEO)" -o "$(OUT)"

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest

# The newest releases, on purpose: a separate environment without the constraints; the tests
# run there, and the versions that differ from constraints.txt are listed (what may have broken).
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --quiet torch -c $(CONSTRAINTS) $(TORCH_PIP_ARGS)
	.venv-latest/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[test,blender]"
	@echo "Versions that differ from $(CONSTRAINTS) (pinned -> newest):"
	@.venv-latest/bin/python -m pip freeze --exclude-editable | sed 's/+[a-z0-9.]*//' | sort > .venv-latest/freeze.txt
	@grep -v '^#' $(CONSTRAINTS) | sort | join -t= -j1 - .venv-latest/freeze.txt -o 0,1.3,2.3 2>/dev/null \
		| awk -F= '$$2 != $$3 {print "  " $$1 ": " $$2 " -> " $$3}' || true
	LIFTRIG_UNPINNED=1 .venv-latest/bin/python -m pytest

lock:
	@test -x .venv-latest/bin/python || { echo "run make test-latest first"; exit 2; }
	{ sed -n '1,3p' $(CONSTRAINTS); .venv-latest/bin/python -m pip freeze --exclude-editable \
		| sed 's/+[a-z0-9.]*//' | grep -v '^liftrig'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
