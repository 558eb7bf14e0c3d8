# SPDX-License-Identifier: GPL-3.0-or-later
"""bf16 autocast and torch.compile, run for real on the CPU with a tiny MixSTE."""

import shutil

import numpy as np
import pytest
import torch
from training_helpers import ALL_ACTIONS, make_h36m, mixste_recipe, write_recipe

from liftrig.training import loop
from liftrig.training.config import load_config


@pytest.fixture(scope="module")
def h36m(tmp_path_factory):
    return make_h36m(tmp_path_factory.mktemp("h36m"), subjects=("S1", "S5", "S9", "S11"),
                     actions=ALL_ACTIONS[:2], frames=40)


def run(h36m, tmp_path, name, extra, epochs=3, monkeypatch=None, seen=None):
    text = mixste_recipe(h36m, tmp_path / name, epochs=epochs, lr=2e-3, batch_size=8,
                         drop_path=0.0, extra_train=extra)
    cfg = load_config(str(write_recipe(tmp_path / f"{name}.toml", text)))
    if monkeypatch is not None:  # record the dtype the network computes in during training
        build = loop.build

        def recording_build(c):
            model = build(c)
            model.register_forward_hook(
                lambda m, i, out: seen.add(out.dtype) if m.training else None)
            return model

        monkeypatch.setattr(loop, "build", recording_build)
    return [e["loss"] for e in loop.train(cfg, show_progress=False)["history"]]


def test_bf16_autocast_trains_on_the_cpu(h36m, tmp_path, monkeypatch):
    seen = set()
    bf16 = run(h36m, tmp_path, "bf16", 'precision = "bf16"', monkeypatch=monkeypatch, seen=seen)
    assert seen == {torch.bfloat16}  # autocast was on: the network's output is bf16
    assert bf16[-1] < 0.8 * bf16[0]
    monkeypatch.undo()
    seen32 = set()
    fp32 = run(h36m, tmp_path, "fp32", 'precision = "fp32"', monkeypatch=monkeypatch, seen=seen32)
    assert seen32 == {torch.float32}
    # bf16 rounds, so not identical, but the same training within a few per cent.
    assert bf16 != fp32 and np.allclose(bf16, fp32, rtol=0.05)


def test_auto_precision_trains_in_fp32_on_the_cpu(h36m, tmp_path, monkeypatch):
    seen = set()
    run(h36m, tmp_path, "auto", 'precision = "auto"', epochs=1, monkeypatch=monkeypatch, seen=seen)
    assert seen == {torch.float32}


def test_unknown_precision_is_an_error(h36m, tmp_path):
    from liftrig.errors import LiftRigError

    with pytest.raises(LiftRigError, match="unknown precision 'bf15'"):
        run(h36m, tmp_path, "bad", 'precision = "bf15"', epochs=1)


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="torch.compile's CPU backend (inductor) needs a C compiler")
def test_compile_trains_like_eager_on_the_cpu(h36m, tmp_path):
    from torch._dynamo.utils import counters

    counters.clear()
    compiled = run(h36m, tmp_path, "compiled", "compile = true", epochs=2)
    assert counters["stats"]["unique_graphs"] >= 1  # dynamo really captured and compiled graphs
    eager = run(h36m, tmp_path, "eager", "compile = false", epochs=2)
    assert compiled[-1] < compiled[0]
    assert np.allclose(compiled, eager, rtol=1e-3)
