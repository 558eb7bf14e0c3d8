# SPDX-License-Identifier: GPL-3.0-or-later
"""Training end to end on a tiny synthetic Human3.6M: losses fall, resume is exact, the exported
weights load with load_lifter, and the commands print the papers' table."""

import json

import numpy as np
import pytest
import torch
from training_helpers import ALL_ACTIONS, make_h36m, mixste_recipe, pstmo_recipe, write_recipe

from liftrig.cli import main
from liftrig.lifter.checkpoints import read_checkpoint
from liftrig.lifter.inference import load_lifter
from liftrig.training.config import load_config
from liftrig.training.loop import train


@pytest.fixture(scope="module")
def h36m(tmp_path_factory):
    root = tmp_path_factory.mktemp("h36m")
    make_h36m(root, subjects=("S1", "S5"), actions=ALL_ACTIONS[:2], frames=40, seed=1)
    # The test subjects have all 15 actions, so the table is complete.
    make_h36m(root / "test", subjects=("S9", "S11"), actions=ALL_ACTIONS, frames=20, seed=2)
    for name in ("data_3d_h36m.npz", "data_2d_h36m_gt.npz"):  # merge the two into one pair
        key = "positions_3d" if "3d" in name else "positions_2d"
        a = np.load(root / name, allow_pickle=True)
        b = np.load(root / "test" / name, allow_pickle=True)
        merged = {**a[key].item(), **b[key].item()}
        extra = {"metadata": a["metadata"]} if "metadata" in a.files else {}
        np.savez(root / name, **{key: merged}, **extra)
    return root


def recipe(tmp_path, text, name="r.toml"):
    return load_config(str(write_recipe(tmp_path / name, text)))


def test_mixste_loss_falls_and_weights_load_with_load_lifter(h36m, tmp_path):
    cfg = recipe(tmp_path, mixste_recipe(h36m, tmp_path / "out", epochs=3, lr=2e-3, batch_size=8))
    summary = train(cfg, show_progress=False)
    losses = [e["loss"] for e in summary["history"]]
    assert losses[-1] < 0.8 * losses[0]
    assert summary["history"][-1]["val_mpjpe"] < summary["history"][0]["val_mpjpe"]
    log = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2, 3]
    assert list((tmp_path / "out" / "tensorboard").glob("events.out.tfevents.*"))
    lifter = load_lifter(tmp_path / "out" / "last.safetensors", device="cpu")
    assert lifter.architecture == "mixste" and lifter.num_frames == 9 and lifter.fps == 50.0
    for name, tensor in summary["model"].state_dict().items():
        assert torch.equal(lifter.model.state_dict()[name], tensor)
    joints = lifter.lift(np.random.default_rng(0).uniform(300, 700, (30, 17, 2)), fps=50,
                         size=(1000, 1000))
    assert joints.shape == (30, 17, 3) and np.isfinite(joints).all()
    _, info = read_checkpoint(tmp_path / "out" / "best.safetensors")
    assert info["architecture"] == "mixste"


def test_resume_reproduces_the_uninterrupted_run(h36m, tmp_path):
    """Random drop path, shuffling and data-loading workers continue exactly after --resume."""
    STEPS = "max_steps_per_epoch = 6\nworkers = 1"
    full = recipe(tmp_path, mixste_recipe(h36m, tmp_path / "full", epochs=2, batch_size=8,
                                          drop_path=0.3, extra_train=STEPS))
    a = train(full, show_progress=False)
    part = recipe(tmp_path, mixste_recipe(h36m, tmp_path / "part", epochs=1, batch_size=8,
                                          drop_path=0.3, extra_train=STEPS),
                  "p.toml")
    train(part, show_progress=False)
    rest = recipe(tmp_path, mixste_recipe(h36m, tmp_path / "part", epochs=2, batch_size=8,
                                          drop_path=0.3, extra_train=STEPS),
                  "p.toml")
    b = train(rest, resume=True, show_progress=False)
    assert [e["loss"] for e in b["history"]] == [e["loss"] for e in a["history"]]
    for name, tensor in a["model"].state_dict().items():
        assert torch.equal(b["model"].state_dict()[name], tensor), name


def test_pstmo_both_stages_learn_and_stage_two_starts_from_stage_one(h36m, tmp_path):
    s1 = train(recipe(tmp_path, pstmo_recipe(h36m, tmp_path / "s1", 1, epochs=3), "1.toml"),
               show_progress=False)
    l1 = [e["loss"] for e in s1["history"]]
    assert l1[-1] < 0.9 * l1[0]
    stage1 = tmp_path / "s1" / "last.safetensors"
    cfg2 = recipe(tmp_path, pstmo_recipe(h36m, tmp_path / "s2", 2, epochs=3, pretrained=str(stage1)),
                  "2.toml")
    from liftrig.training.loop import build, load_pretrained_encoder

    fresh = build(cfg2)
    assert load_pretrained_encoder(fresh, str(stage1)) > 0
    enc = s1["model"].state_dict()
    assert torch.equal(fresh.state_dict()["temporal_layers.0.attn.q.weight"],
                       enc["temporal_layers.0.attn.q.weight"])
    s2 = train(cfg2, show_progress=False)
    l2 = [e["loss"] for e in s2["history"]]
    assert l2[-1] < 0.8 * l2[0]
    lifter = load_lifter(tmp_path / "s2" / "last.safetensors", device="cpu")
    assert lifter.architecture == "pstmo" and lifter.fps == 25.0


def test_commands_train_then_evaluate_print_the_table(h36m, tmp_path, capsys):
    path = write_recipe(tmp_path / "r.toml", mixste_recipe(h36m, tmp_path / "out", epochs=1,
                                                           batch_size=16))
    assert main(["train", str(path), "--no-progress"]) == 0
    assert main(["train", str(path), "--no-progress"]) == 2  # the folder holds a run: --resume
    assert "pass --resume" in capsys.readouterr().err
    assert main(["evaluate", str(path), str(tmp_path / "out" / "last.safetensors")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if "Dir." in line).split()
    assert header[0] == "Dir." and header[-1] == "Avg." and len(header) == 16
    for row in ("P1", "P2", "MPJVE"):
        cells = next(line for line in lines if line.startswith(row)).split()[1:]
        assert len(cells) == 16 and all(float(c) > 0 for c in cells)
    assert "no test frames" not in out


def test_command_errors_are_one_line(h36m, tmp_path, capsys):
    assert main(["train", "no_such_recipe"]) == 2
    assert "mixste_cpn_243" in capsys.readouterr().err  # lists the shipped recipes
    bad = write_recipe(tmp_path / "bad.toml", mixste_recipe(h36m, tmp_path / "o").replace("[output]", "bogus = 1\n[output]"))
    assert main(["train", str(bad)]) == 2
    assert "unknown setting 'train.bogus'" in capsys.readouterr().err
    cfg = write_recipe(tmp_path / "r.toml", mixste_recipe(tmp_path / "missing", tmp_path / "o"))
    assert main(["train", str(cfg), "--no-progress"]) == 2
    assert "Human3.6M folder not found" in capsys.readouterr().err
    assert main(["train", str(cfg), "--resume", "--data", str(h36m)]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_shipped_recipes_build_the_published_models():
    from liftrig.training.loop import build

    cfg = load_config("mixste_cpn_243")
    assert cfg["train"]["lr"] == 4e-5 and cfg["train"]["weight_decay"] == 0.1
    assert sum(p.numel() for p in build(cfg).parameters()) == pytest.approx(33.78e6, rel=0.01)
    for name in ("mixste_cpn_81", "mixste_gt_243", "pstmo_stage1", "pstmo_stage2",
                 "pstmo_s_stage1", "pstmo_s_stage2"):
        assert load_config(name)["name"] == name
    assert load_config("pstmo_s_stage1")["train"]["mask_frames"] == 0.8
    assert load_config("pstmo_s_stage2")["train"]["lr"] == 7e-4


def test_another_source_plugs_in_as_sequences(h36m, tmp_path):
    """A dataset is anything that yields Sequence objects (the synthetic source will be one)."""
    from liftrig.training.data.h36m import Sequence, load_h36m
    from liftrig.training.loop import DATASETS, register_dataset

    asked = []

    def loader(data, subjects):
        asked.append(list(subjects))
        return [Sequence("synthetic", "Walking", 0, s.pose2d, s.pose3d)
                for s in load_h36m(h36m, "gt", ["S1"])[:4]]

    register_dataset("synthetic-test", loader)
    try:
        text = mixste_recipe(h36m, tmp_path / "out", epochs=1, batch_size=8).replace(
            'root = ', 'dataset = "synthetic-test"\nroot = ')
        summary = train(recipe(tmp_path, text), show_progress=False)
    finally:
        del DATASETS["synthetic-test"]
    assert asked == [["S1", "S5"]] and len(summary["history"]) == 1


def test_evaluate_reads_published_checkpoints_too(h36m, tmp_path, capsys):
    """The same weights as a published MixSTE pickle and as LiftRig safetensors: the same table."""
    from liftrig.lifter.checkpoints import to_published_state_dict
    from liftrig.training.loop import build, export

    text = mixste_recipe(h36m, tmp_path / "out").replace("num_heads = 2", "num_heads = 8").replace(
        '["S9", "S11"]', '["S1"]')  # any subject will do, and S1 has fewer sequences
    path = write_recipe(tmp_path / "r.toml", text)
    cfg = load_config(str(path))
    torch.manual_seed(0)
    model = build(cfg)
    export(cfg, model, tmp_path / "w.safetensors")
    published = to_published_state_dict(model.state_dict(), "mixste")
    torch.save({"model_pos": {f"module.{k}": v for k, v in published.items()}}, tmp_path / "w.bin")
    tables = []
    for weights in ("w.safetensors", "w.bin"):
        assert main(["evaluate", str(path), str(tmp_path / weights)]) == 0
        tables.append(capsys.readouterr().out.split("\n", 1)[1])  # minus the line naming the file
    assert tables[0] == tables[1] and "P1" in tables[0]
