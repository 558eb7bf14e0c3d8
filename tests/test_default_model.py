# SPDX-License-Identifier: GPL-3.0-or-later
"""The default lifter LiftRig ships: it is installed where ``load_lifter()`` looks, says its
licence, and lifts a real captured walk filmed by a virtual camera far better than an untrained
network of the same shape, with left kept left."""

from __future__ import annotations

import numpy as np
import pytest

from liftrig.h36m import JOINT_NAMES

J = {name: k for k, name in enumerate(JOINT_NAMES)}

WEIGHTS_METADATA_KEYS = ("license", "license_note", "recipe", "fps", "architecture")


@pytest.fixture(scope="module")
def walk_filmed(bandai_walk, film):
    """A real walk (150 frames at 30 fps) on an adult of average proportions, 1.70 m tall (the
    mocap's rotations re-posed, training/data/bodies.py), filmed from the front-left, 4.5 m
    away. The target's thorax is the midpoint of the shoulders, as the 2D stage makes it."""
    import dataclasses

    from liftrig.retarget.bvh import read_bvh
    from liftrig.retarget.mocap_map import mocap_points
    from liftrig.training.data import bodies

    h36m, coco = mocap_points(read_bvh(bandai_walk))
    average = bodies.BodyRanges(stature_m=(1.70, 1.70), head_cv=0.0, sex_width_difference=0.0,
                                **{name: (mean, 0.0) for name, (mean, _) in (
                                    (f.name, getattr(bodies.BodyRanges(), f.name))
                                    for f in dataclasses.fields(bodies.BodyRanges)
                                    if isinstance(getattr(bodies.BodyRanges(), f.name), tuple)
                                    and f.name != "stature_m")})
    body = bodies.sample_body(np.random.default_rng(0), h36m[:150], average)
    world, _ = bodies.repose(h36m[:150], coco[:150], body)
    world[:, J["Thorax"]] = 0.5 * (world[:, J["LShoulder"]] + world[:, J["RShoulder"]])
    centre = world[:, 0].mean(axis=0)
    kp, target, *_ = film(world, 30.0, position=centre + (3.0, -3.4, 0.2),
                          target=centre, size=(1920, 1080), fov_deg=55.0)
    return kp, target


def _scores(pred, target):
    from liftrig.training import metrics

    return float(metrics.mpjpe(pred, target).mean()), float(metrics.p_mpjpe(pred, target).mean())


def test_shipped_weights_are_installed_with_their_licence():
    from safetensors import safe_open

    from liftrig.lifter import inference

    assert inference.DEFAULT_WEIGHTS.is_file(), "lifter/weights/default.safetensors is missing"
    with safe_open(str(inference.DEFAULT_WEIGHTS), "np") as f:
        meta = f.metadata()
    assert all(k in meta for k in WEIGHTS_METADATA_KEYS)
    assert meta["license"] == "CC-BY-NC-4.0" and "non-commercial" in meta["license_note"]
    assert meta["selected_on"] == "validation"
    card = inference.DEFAULT_WEIGHTS.parent / "MODEL_CARD.md"
    assert "CC BY-NC 4.0" in card.read_text()


def test_the_released_weights_are_the_shipped_file_and_install_from_a_local_copy(
        tmp_path, monkeypatch):
    """The extension installs exactly the released file (SHA-256), atomically, into the cache;
    lifting then finds it without the packaged copy."""
    from liftrig.errors import LiftRigError
    from liftrig.lifter import default_weights as dw
    from liftrig.lifter import inference, load_lifter

    assert dw.file_sha256(dw.PACKAGED) == dw.SHA256
    monkeypatch.setenv("LIFTRIG_CACHE", str(tmp_path / "cache"))
    tampered = tmp_path / "tampered.safetensors"
    tampered.write_bytes(dw.PACKAGED.read_bytes()[:-1] + b"\0")
    with pytest.raises(LiftRigError, match="not LiftRig's released default weights"):
        dw.install_default_weights(tampered)
    assert not dw.installed_path().exists()
    installed = dw.install_default_weights(dw.PACKAGED)
    assert installed.read_bytes() == dw.PACKAGED.read_bytes()
    monkeypatch.setattr(dw, "PACKAGED", tmp_path / "as-in-the-extension" / "default.safetensors")
    monkeypatch.setattr(inference, "DEFAULT_WEIGHTS", dw.PACKAGED)
    assert dw.find_default_weights() == installed
    assert load_lifter(device="cpu").architecture == "mixste"


def test_default_lifter_lifts_a_filmed_walk(walk_filmed):
    import torch

    from liftrig.lifter import load_lifter
    from liftrig.lifter.inference import Lifter
    from liftrig.lifter.models import build_model

    kp, target = walk_filmed
    lifter = load_lifter(device="cpu")
    assert lifter.architecture == "mixste" and lifter.fps == 30.0
    pred = lifter.lift(kp)
    assert pred.shape == target.shape and np.isfinite(pred).all()
    mpjpe, p_mpjpe = _scores(pred, target)

    # The same network untrained: what the weights are worth.
    torch.manual_seed(0)
    untrained = build_model("mixste", lifter.info["config"]).eval()
    base = Lifter(untrained, dict(lifter.info), torch.device("cpu"), precision="fp32")
    _, p_base = _scores(base.lift(kp), target)
    print(f"default: MPJPE {mpjpe:.3f} P-MPJPE {p_mpjpe:.3f}; untrained P-MPJPE {p_base:.3f}")
    # Shipped (stage 3): MPJPE 46, P-MPJPE 36 mm; stage 2 (the actor's body only): 74 and 54.
    assert p_mpjpe < 0.045 and mpjpe < 0.055, (mpjpe, p_mpjpe)
    assert p_mpjpe < 0.5 * p_base, (p_mpjpe, p_base)

    # Left stays left: the hips' left-right axis points the same way as the truth's.
    across_pred = pred[:, J["LHip"]] - pred[:, J["RHip"]]
    across_true = target[:, J["LHip"]] - target[:, J["RHip"]]
    agree = np.einsum("fi,fi->f", across_pred, across_true) > 0
    assert agree.mean() > 0.95
