# SPDX-License-Identifier: GPL-3.0-or-later
"""Other bodies and everyday cameras for the synthetic training data, on real motion capture."""

import dataclasses

import numpy as np
import pytest

from liftrig.h36m import BONES
from liftrig.h36m import JOINT_INDEX as J
from liftrig.retarget.bvh import read_bvh
from liftrig.retarget.mocap_map import mocap_points
from liftrig.training.data import bodies, mocap


@pytest.fixture(scope="module")
def walk(bandai_walk):
    h36m, coco = mocap_points(read_bvh(bandai_walk))
    return h36m.astype(np.float32), coco.astype(np.float32)


def test_no_variation_reproduces_the_mocap_points(walk):
    h36m, coco = walk
    same_h36m, same_coco = bodies.repose(h36m, coco, bodies.BodyScales())
    assert np.array_equal(same_h36m, h36m) and np.array_equal(same_coco, coco)
    # Factors of one through the arithmetic path too (not only the shortcut).
    almost = bodies.BodyScales(thigh=1.0 + 1e-12)
    again, again_coco = bodies.repose(h36m, coco, almost)
    np.testing.assert_allclose(again, h36m, atol=1e-5)
    np.testing.assert_allclose(again_coco, coco, atol=1e-5)
    # And through film(): a window without bodies is filmed exactly as before.
    a = mocap.film(np.random.default_rng(7), h36m[:81], coco[:81], 30.0, noise=None)
    b = mocap.film(np.random.default_rng(7), h36m[:81], coco[:81], 30.0, noise=None, bodies=None)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_drawn_bodies_have_adult_proportions_and_keep_the_motion(walk):
    h36m, coco = walk
    rng = np.random.default_rng(0)
    statures, hips, shoulders, thigh_shin = [], [], [], []
    for _ in range(200):
        body = bodies.sample_body(rng, h36m)
        new, new_coco = bodies.repose(h36m, coco, body)
        lengths = bodies.segment_lengths(new)
        stature = bodies.actor_stature(lengths)
        statures.append(stature)
        hips.append(lengths["hip_width"] / stature)
        shoulders.append(lengths["shoulder_width"] / stature)
        thigh_shin.append(lengths["thigh"] / lengths["shin"])
        # Every bone is its segment's factor times the actor's, in every frame.
        for p, c in BONES:
            ratio = (np.linalg.norm(new[:, c] - new[:, p], axis=-1)
                     / np.linalg.norm(h36m[:, c] - h36m[:, p], axis=-1))
            np.testing.assert_allclose(ratio, body.segment(bodies.JOINT_NAMES[c]), rtol=1e-4)
        # The same rotations: each bone points where the actor's did.
        for p, c in BONES:
            a, b = h36m[:, c] - h36m[:, p], new[:, c] - new[:, p]
            cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
            assert cos.min() > 0.9999
        # The face moves with the nose; the limbs' landmarks are the new joints.
        assert np.allclose(new_coco[:, 15], new[:, J["LAnkle"]], atol=1e-5)
    statures = np.array(statures)
    assert 1.35 < statures.min() and statures.max() < 2.15 and statures.std() > 0.1
    # The Bandai actor: hips 0.08 and shoulders 0.13 of stature; adults 0.10 and 0.20.
    assert 0.09 < np.mean(hips) < 0.11 and 0.18 < np.mean(shoulders) < 0.22
    assert np.std(thigh_shin) > 0.03
    # Taller legs carry the pelvis higher over the same floor.
    body = dataclasses.replace(bodies.BodyScales(), thigh=1.2, shin=1.2)
    taller, _ = bodies.repose(h36m, coco, body)
    floor = h36m[:, [J["LAnkle"], J["RAnkle"]], 2].min()
    assert abs(taller[:, [J["LAnkle"], J["RAnkle"]], 2].min() - floor) < 0.03
    assert taller[:, 0, 2].mean() > h36m[:, 0, 2].mean() + 0.1


def test_everyday_cameras_cover_what_people_film_with():
    rng = np.random.default_rng(2)
    ranges = mocap.EVERYDAY_CAMERAS
    centre, floor = np.array([0.0, 0.0, 0.95]), 0.0
    focal_mm, heights, pitches, distances, portrait = [], [], [], [], 0
    for _ in range(2000):
        rotation, position, focal, principal, (w, h) = mocap.sample_camera(rng, centre, ranges, floor)
        focal_mm.append(focal / max(w, h) * 36.0)
        heights.append(position[2] - floor)
        pitches.append(np.degrees(np.arcsin(-rotation[2][2])))
        distances.append(np.linalg.norm((position - centre)[:2]))
        portrait += h > w
        assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    focal_mm, pitches = np.array(focal_mm), np.array(pitches)
    assert 12.9 < focal_mm.min() and focal_mm.max() < 85.1
    assert 0.45 < np.mean((focal_mm >= 24) & (focal_mm <= 28)) < 0.65   # phones' main lens
    assert np.mean(focal_mm < 16.1) > 0.08                               # ultra-wide
    assert 0.3 <= min(heights) and max(heights) <= 4.0
    assert -15.01 <= pitches.min() and pitches.max() <= 60.01
    assert np.mean(pitches > 30) > 0.03 and np.mean(pitches < -5) > 0.01
    assert 1.0 < min(distances) and max(distances) < 10.5
    assert 0.3 < portrait / 2000 < 0.7


def test_seen_targets_are_the_points_the_2d_is_made_of(walk):
    """With exact 2D, a seen target reprojects onto its input: hips, shoulders, pelvis and
    thorax are the detector's points, not the mocap's joint centres."""
    h36m, coco = walk
    ranges = dataclasses.replace(mocap.EVERYDAY_CAMERAS, out_of_frame=0.0)
    for seed in range(5):
        pts, size, target = mocap.film(np.random.default_rng(seed), h36m[:81], coco[:81], 30.0,
                                       ranges, noise=mocap.REAL_BODY_DETECTOR,
                                       bodies=bodies.BodyRanges(), seen_targets=True)
        assert pts.shape == (81, 17, 2) and np.isfinite(pts).all() and np.isfinite(target).all()
        # The target's thorax is the midpoint of its shoulders, as the 2D stage's is.
        np.testing.assert_allclose(target[:, 8], 0.5 * (target[:, 11] + target[:, 14]), atol=1e-5)
        hip_width = np.linalg.norm(target[:, 1] - target[:, 4], axis=-1).mean()
        assert 0.12 < hip_width < 0.32


def test_training_windows_from_the_recipe_options(walk):
    h36m, coco = walk
    clip = mocap.MocapClip("walk", "bandai", "bandai/1/walk/normal", h36m, coco)
    options = mocap.synthesis_options({"cameras": "everyday", "keep_in_frame": True,
                                       "bodies": True, "seen_targets": True})
    data = mocap.MocapWindows([clip], 81, 8, seed=1, **options)
    widths = [np.linalg.norm(data.window(k)[1][:, 11] - data.window(k)[1][:, 14], axis=-1).mean()
              for k in range(8)]
    assert np.std(widths) > 0.01          # every window another body
    from liftrig.errors import LiftRigError
    with pytest.raises(LiftRigError, match="data.cameras"):
        mocap.synthesis_options({"cameras": "cinema", "keep_in_frame": True, "bodies": False,
                                 "seen_targets": False})


def test_the_everyday_detector_spans_clean_and_back_lit_footage(walk):
    """data.detector = "everyday": per-window jitter (residual to a short quadratic fit, % of
    the body height) from cleaner than real_body's cleanest to about the back-lit outdoor
    clip's 1.85 %, which real_body never reaches."""
    from scipy.signal import savgol_filter

    from liftrig.errors import LiftRigError

    h36m, coco = walk

    def jitter(detector: str) -> np.ndarray:
        options = mocap.synthesis_options({"cameras": "everyday", "keep_in_frame": True,
                                           "bodies": True, "seen_targets": True,
                                           "detector": detector})
        assert options["noise"] is mocap.DETECTORS[detector]
        levels = []
        for seed in range(40):
            pts, _, _ = mocap.film(np.random.default_rng(seed), h36m[:81], coco[:81], 30.0,
                                   options["ranges"], options["noise"], bodies=options["bodies"])
            residual = pts - savgol_filter(pts, 7, 2, axis=0)
            height = np.ptp(pts[..., 1], axis=1).mean()
            levels.append(100 * np.median(residual[:, [0, 7, 8]].std(axis=0)) / height)
        return np.array(levels)

    real_body, everyday = jitter("real_body"), jitter("everyday")
    assert everyday.min() < real_body.min()
    assert real_body.max() < 1.2 < everyday.max()
    with pytest.raises(LiftRigError, match="data.detector"):
        mocap.synthesis_options({"cameras": "everyday", "keep_in_frame": True, "bodies": True,
                                 "seen_targets": True, "detector": "webcam"})
