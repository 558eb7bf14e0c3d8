# SPDX-License-Identifier: GPL-3.0-or-later
"""Metrics and losses against values worked out by hand."""

import numpy as np
import pytest
import torch

from liftrig.training import losses, metrics
from liftrig.training.evaluate import format_table


def test_mpjpe_by_hand():
    gt = np.zeros((1, 2, 3))
    pred = gt.copy()
    pred[0, 0] = [3.0, 4.0, 0.0]  # one joint 5 off, the other exact
    assert metrics.mpjpe(pred, gt) == pytest.approx([2.5])


def square():
    gt = np.array([[[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]]], float)
    pred = np.array([[[1, 0, 0], [-1, 0, 0], [0, 2, 0], [0, -2, 0]]], float)
    return pred, gt


def test_p_mpjpe_by_hand():
    # Symmetric case: the best rotation is the identity and the best scale is
    # sum(p.g) / sum(p.p) = (1 + 1 + 2 + 2) / (1 + 1 + 4 + 4) = 0.6, so the aligned points are
    # (+-0.6, 0, 0), (0, +-1.2, 0): errors 0.4, 0.4, 0.2, 0.2 -> 0.3.
    pred, gt = square()
    assert metrics.p_mpjpe(pred, gt) == pytest.approx([0.3])
    assert metrics.mpjpe(pred, gt) == pytest.approx([0.5])


def test_p_mpjpe_removes_similarity_but_not_reflection():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(3, 17, 3))
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    pred = 2.5 * gt @ rot.T + np.array([1.0, -2.0, 0.5])
    assert np.allclose(metrics.p_mpjpe(pred, gt), 0.0, atol=1e-9)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert (metrics.p_mpjpe(mirrored, gt) > 0.1).all()


def test_n_mpjpe_by_hand():
    pred, gt = square()  # scale 0.6 as above; no translation or rotation is removed
    assert metrics.n_mpjpe(pred, gt) == pytest.approx([0.3])
    assert metrics.n_mpjpe(pred + [0, 0, 1], gt) > 0.3


def test_mpjve_by_hand():
    gt = np.zeros((3, 2, 3))
    gt[:, :, 0] = np.arange(3)[:, None]  # moves 1 per frame along x
    pred = np.zeros((3, 2, 3))           # stands still
    assert metrics.mpjve(pred, gt) == pytest.approx([1.0, 1.0])


def test_pck_and_auc_by_hand():
    gt = np.zeros((1, 2, 3))
    pred = np.array([[[0.07, 0, 0], [0, 0.2, 0]]])  # 70 mm and 200 mm off
    assert metrics.pck(pred, gt, 0.15) == 50.0
    # Thresholds 0, 50, 100, 150 mm: PCK 0, 0, 50, 50 -> AUC 25.
    assert metrics.auc(pred, gt, 0.15, steps=4) == pytest.approx(25.0)


def test_losses_by_hand():
    pred = torch.zeros(1, 2, 17, 3)
    target = torch.zeros(1, 2, 17, 3)
    target[0, :, 12, 0] = 1.0  # joint 12 (weight 4) off by 1 in both frames
    w = losses.MIXSTE_JOINT_WEIGHTS
    assert losses.weighted_mpjpe(pred, target, w).item() == pytest.approx(4 / 17)
    assert losses.mpjpe(pred, target).item() == pytest.approx(1 / 17)
    moving = torch.zeros(1, 2, 17, 3)
    moving[0, 1, 12, 1] = 2.0  # joint 12 moves by 2 between the two frames
    # weighted mean of squared steps: 4 * 2^2 / (1 frame step * 17 joints * 3 coords)
    assert losses.temporal_consistency(moving, w).item() == pytest.approx(16 / 51)
    assert losses.mpjve(moving, pred).item() == pytest.approx(2 / 17)
    total = losses.mixste_loss(moving, pred)
    assert total.item() == pytest.approx(losses.weighted_mpjpe(moving, pred, w).item()
                                         + 0.5 * 16 / 51 + 2.0 * 2 / 17)


def test_bone_length_consistency_by_hand():
    """Bone lengths 1 and 2 m in two frames: each is 0.5 m from the window's mean; a rigid
    motion (a translation) costs nothing; the recipe adds the term with its weight."""
    pred = torch.zeros(1, 2, 17, 3)
    pred[0, 0, 1, 0], pred[0, 1, 1, 0] = 1.0, 2.0           # bone (0, 1): 1 m, then 2 m
    assert losses.bone_length_consistency(pred, [(0, 1)]).item() == pytest.approx(0.5)
    assert losses.bone_length_consistency(pred, [(0, 1), (0, 2)]).item() == pytest.approx(0.25)
    rigid = torch.rand(1, 1, 17, 3).repeat(1, 5, 1, 1) + torch.arange(5.0)[None, :, None, None]
    assert losses.bone_length_consistency(rigid, [(0, 1), (1, 2)]).item() == pytest.approx(0, abs=1e-6)

    from liftrig.h36m import BONES
    from liftrig.training.config import load_config
    from liftrig.training.loop import build, step_loss

    cfg = load_config("liftrig_default")
    assert cfg["train"]["bone_weight"] > 0
    cfg["model"].update(num_frames=9, dim=16, depth=1, num_heads=2)
    torch.manual_seed(0)
    model = build(cfg).eval()
    x, y = torch.rand(2, 9, 17, 2), torch.rand(2, 9, 17, 3)
    with_bones = step_loss(cfg, model, x, y)
    assert step_loss(cfg, model, x, y, epoch=cfg["train"]["bone_weight_from_epoch"]) == with_bones
    before = step_loss(cfg, model, x, y, epoch=cfg["train"]["bone_weight_from_epoch"] - 1)
    cfg["train"]["bone_weight"] = 0.0
    without = step_loss(cfg, model, x, y)
    extra = losses.bone_length_consistency(model(x), BONES)
    assert extra.item() > 0
    assert with_bones.item() == pytest.approx(without.item() + 2.0 * extra.item(), rel=1e-5)
    assert before.item() == pytest.approx(without.item())   # not yet in the early epochs


def test_learning_rate_schedule():
    """The papers' exponential decay, and the optional quicker cool-down after it."""
    from liftrig.training.loop import lr_factor

    t = {"lr_decay": 0.99, "anneal_from_epoch": 0, "anneal_decay": 0.5}
    assert [lr_factor(t, e) for e in (0, 1, 10)] == pytest.approx([1.0, 0.99, 0.99 ** 10])
    t["anneal_from_epoch"] = 3
    assert [lr_factor(t, e) for e in range(6)] == pytest.approx(
        [1.0, 0.99, 0.99 ** 2, 0.99 ** 3, 0.99 ** 3 * 0.5, 0.99 ** 3 * 0.25])


def test_pstmo_loss_by_hand():
    target = torch.zeros(1, 3, 17, 3)
    target[0, 1] = 1.0  # the centre frame: every joint at (1, 1, 1), sqrt(3) from the origin
    every = torch.zeros(1, 3, 17, 3)
    centre = torch.ones(1, 1, 17, 3)
    # all-frame error: one of 3 frames off by sqrt(3); centre error 0
    assert losses.pstmo_loss(centre, every, target).item() == pytest.approx(np.sqrt(3) / 3)


def test_table_has_the_papers_columns():
    result = {"P1": {"Walking": 50.0, "Eating": 40.0, "Avg": 45.0},
              "P2": {"Walking": 30.0, "Eating": 20.0, "Avg": 25.0},
              "MPJVE": {"Walking": 3.0, "Eating": 2.0, "Avg": 2.5}}
    table = format_table(result)
    header = table.splitlines()[0].split()
    assert header == ["Dir.", "Disc.", "Eat", "Greet", "Phone", "Photo", "Pose", "Pur.", "Sit",
                      "SitD.", "Smoke", "Wait", "WalkD.", "Walk", "WalkT.", "Avg."]
    p1 = table.splitlines()[1].split()
    assert p1[0] == "P1" and p1[3] == "40.0" and p1[14] == "50.0" and p1[16] == "45.0"
    assert "Avg. is over the other actions" in table


def test_acceleration_error_jitter_and_bone_stability_by_hand():
    # One joint moving along x: positions 0, 1, 4, 9 (constant acceleration 2) vs a still truth.
    pred = np.zeros((4, 1, 3))
    pred[:, 0, 0] = [0, 1, 4, 9]
    gt = np.zeros((4, 1, 3))
    np.testing.assert_allclose(metrics.acceleration_error(pred, gt), [2.0, 2.0])
    assert metrics.mean_acceleration(pred) == pytest.approx(2.0)
    # A bone of length 1 then 3: std 1.
    poses = np.zeros((2, 2, 3))
    poses[:, 1, 1] = [1.0, 3.0]
    np.testing.assert_allclose(metrics.bone_length_std(poses, [(0, 1)]), [1.0])


def test_limb_direction_error_ignores_one_rotation_and_sees_a_bent_limb():
    from scipy.spatial.transform import Rotation

    from liftrig.training import metrics

    rng = np.random.default_rng(0)
    gt = rng.normal(size=(30, 17, 3))
    turned = gt @ Rotation.from_euler("xyz", [20, -40, 70], degrees=True).as_matrix().T
    assert metrics.limb_direction_error(turned, gt).max() < 1e-6
    bent = gt.copy()
    bent[:, 3] = bent[:, 2] + np.linalg.norm(gt[:, 3] - gt[:, 2], axis=-1, keepdims=True) * \
        np.cross(gt[:, 3] - gt[:, 2], [0, 0, 1]) / np.linalg.norm(
            np.cross(gt[:, 3] - gt[:, 2], [0, 0, 1]), axis=-1, keepdims=True)
    error = metrics.limb_direction_error(bent, gt)
    assert 8 < error.mean() < 25   # one limb of eight at right angles; the fit shares it out


def test_body_proportions_of_a_known_body():
    from liftrig.training import metrics

    pose = np.zeros((1, 17, 3))
    pose[0, 1], pose[0, 4] = [-0.1, 0, 0], [0.1, 0, 0]          # hips 0.2 apart
    pose[0, 2], pose[0, 5] = [-0.1, -0.4, 0], [0.1, -0.4, 0]    # thighs 0.4
    pose[0, 3], pose[0, 6] = [-0.1, -0.8, 0], [0.1, -0.8, 0]
    pose[0, 14], pose[0, 11] = [-0.15, 0.5, 0], [0.15, 0.5, 0]  # shoulders 0.3 apart
    pose[0, 15], pose[0, 12] = [-0.15, 0.2, 0], [0.15, 0.2, 0]  # upper arms 0.3
    pose[0, 16], pose[0, 13] = [-0.15, -0.05, 0], [0.15, -0.1, 0]
    p = metrics.body_proportions(pose)
    assert np.isclose(p["hips/thigh"], 0.5) and np.isclose(p["shoulders/upper arm"], 1.0)
    assert 0 < p["asymmetry %"] < 10   # only the forearms differ (0.25 against 0.30)
