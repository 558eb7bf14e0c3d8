# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic training pairs from real motion capture (../shared/data): mapping, cameras, errors."""

import io
import tarfile

import numpy as np
import pytest

from liftrig.h36m import BONES, JOINT_NAMES
from liftrig.retarget.bvh import read_bvh
from liftrig.retarget.mocap_map import mocap_points
from liftrig.training.data import mocap

from conftest import BANDAI_WALK


@pytest.fixture(scope="module")
def walk(bandai_walk):
    motion = read_bvh(bandai_walk)
    h36m, coco = mocap_points(motion)
    return mocap.MocapClip("dataset-1_walk_normal_001", "bandai", "bandai/1/walk/normal",
                           h36m.astype(np.float32), coco.astype(np.float32))


@pytest.fixture(scope="module")
def salsa(cmu_clips):
    motion = read_bvh(cmu_clips["salsa"])
    h36m, coco = mocap_points(motion)
    return motion.fps, h36m, coco


@pytest.mark.parametrize("clip", ["walk", "salsa"])
def test_mapping_looks_like_a_person(clip, request):
    """Bones keep their length, left is left, the head is up, the feet are down."""
    value = request.getfixturevalue(clip)
    h36m, coco = (value.h36m, value.coco) if clip == "walk" else value[1:]
    for parent, child in BONES:
        length = np.linalg.norm(h36m[:, child] - h36m[:, parent], axis=-1)
        # Limbs are rigid; the spine and neck points span several mocap joints that bend.
        flexible = 7 in (parent, child) or (parent, child) == (8, 9)
        assert length.std() < (0.02 if flexible else 0.005), \
            (JOINT_NAMES[parent], JOINT_NAMES[child], length.std())
        assert 0.03 < length.mean() < 0.6
    # Left is left: the left hip lies to the subject's left of the right one. Facing = the
    # horizontal normal of the hip line, pointing where the nose is.
    across = h36m[:, 4] - h36m[:, 1]                       # right hip -> left hip
    forward = h36m[:, 9] - h36m[:, 8]                      # thorax -> nose, roughly forward
    up = np.cross(forward, across)                          # right-handed: forward x left = up
    assert (up[:, 2] > 0).mean() > 0.95
    assert (h36m[:, 10, 2] > h36m[:, 0, 2]).mean() > 0.95   # head top above the pelvis
    assert (h36m[:, 3, 2] < h36m[:, 2, 2]).mean() > 0.95    # ankles below the knees
    # The detector's landmarks: eyes in front of the ears, left eye on the left.
    assert (np.einsum("fc,fc->f", coco[:, 1] - coco[:, 2], across) > 0).mean() > 0.95
    height = h36m[:, 10, 2].max() - np.minimum(h36m[:, 3, 2], h36m[:, 6, 2]).min()
    assert 1.4 < height < 2.1


def test_clean_projection_is_exact(walk):
    """Without detector errors the 2D input is the camera's projection of the landmarks, and the
    target is the camera-space skeleton: re-projecting with the same camera must agree."""
    rng = np.random.default_rng(0)
    window = slice(0, 81)
    x, y = mocap.synthesize(rng, walk.h36m[window], walk.coco[window], 30.0, noise=None)
    assert x.shape == (81, 17, 2) and y.shape == (81, 17, 3)
    assert np.allclose(y[:, 0], 0)
    # Limbs copied from landmarks: the normalised 2D of the left wrist is a projection of
    # the camera-space left wrist, up to the unknown root depth (same ratio for every joint).
    ratio = (x[:, 13] - x[:, 0])
    assert np.isfinite(ratio).all() and np.abs(x).max() < 3
    # Bone lengths in the target are those of the (rescaled) mocap skeleton.
    thigh = np.linalg.norm(y[:, 5] - y[:, 4], axis=-1)
    assert thigh.std() < 0.005 and 0.3 < thigh.mean() < 0.5


def test_errors_are_temporally_correlated_and_bounded(walk):
    """Detector-like errors on clean pixels: a few per cent of the body's height, correlated from
    one frame to the next, with the undetected frames interpolated (no jumps)."""
    rng = np.random.default_rng(1)
    pixels = 500 + 300 * walk.coco[:, :, [0, 2]] * [1, -1]   # a side view, [T, 17, 2]
    noisy, scores = mocap.detector_errors(rng, pixels.copy(), mocap.DetectorNoise(), 30.0)
    error = noisy - pixels
    height = np.ptp(pixels[..., 1], axis=1).mean()
    assert 0.002 * height < np.median(np.abs(error)) < 0.05 * height
    assert scores.shape == (len(pixels), 17) and set(np.unique(scores)) <= {0.1, 0.95}
    pelvis_like = error[:, 11, 0] - error[:, 11, 0].mean()        # the left hip's x error
    assert np.corrcoef(pelvis_like[:-1], pelvis_like[1:])[0, 1] > 0.3
    noise = mocap._correlated_noise(rng, 3000, 1, 1.0, 0.5, 30.0)[:, 0, 0]
    assert 0.85 < noise.std() < 1.15
    lag1, lag30 = (np.corrcoef(noise[:-k], noise[k:])[0, 1] for k in (1, 30))
    assert lag1 > 0.9 and lag30 < 0.5


def test_cameras_cover_the_issue_ranges():
    rng = np.random.default_rng(2)
    ranges = mocap.CameraRanges()
    centre = np.array([0.0, 0.0, 1.0])
    pitches, distances, portrait = [], [], 0
    for _ in range(400):
        rotation, position, focal, principal, (w, h) = mocap.sample_camera(rng, centre, ranges)
        forward = rotation[2]
        pitches.append(np.degrees(np.arcsin(-forward[2])))
        distances.append(np.linalg.norm(position - centre))
        portrait += h > w
        assert 35 / 36 * max(w, h) - 1 <= focal <= 70 / 36 * max(w, h) + 1
        assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    assert -15 < min(pitches) < -5 and 25 < max(pitches) < 35   # aim jitter blurs the ends
    assert 1.5 < min(distances) and max(distances) < 8.0   # to the subject, not the aim point
    assert 100 < portrait < 300


def test_cameras_step_back_until_the_subject_is_in_the_picture(walk):
    """A long lens close to the subject cuts the body; a kept-in-frame camera steps back just
    enough (the body touches the margin), and never beyond the issue's 7 m."""
    from liftrig.retarget.root_path import look_at_rotation

    points = np.concatenate([walk.h36m[:27], walk.coco[:27]], axis=1)      # [T, 34, 3]
    centre = points[:, 0].mean(axis=0)
    position = centre + np.array([2.5, 0.0, 0.0])
    rotation = look_at_rotation(position, centre, 0.0)
    size, focal = (1920, 1080), 70 / 36 * 1920
    principal = np.array([960.0, 540.0])

    def project(camera):
        cam = (points - camera) @ rotation.T
        return focal * cam[..., :2] / cam[..., 2:3] + principal

    assert (project(position)[..., 1] < 0).any() or (project(position)[..., 1] > 1080).any()
    stepped = mocap.frame_subject(points, rotation, position, focal, principal, size, centre, 7.0)
    assert 2.5 < np.linalg.norm(stepped - centre) < 7.0
    margin = mocap.FRAME_MARGIN * np.array(size)
    pixels = project(stepped)
    room = np.minimum(pixels - margin, np.array(size) - margin - pixels)
    assert -0.5 < room.min() < 1.0                                       # inside, and tight
    capped = mocap.frame_subject(points, rotation, position, focal, principal, size, centre, 3.0)
    assert np.isclose(np.linalg.norm(capped - centre), 3.0)              # no further than allowed

    # Through film(): the whole walk, across the room, cannot fit a long lens within 7 m, so its
    # subject leaves the frame for part of the clip; without keep_in_frame the body is cut more.
    ranges = dict(distance_m=(2.5, 7.0), focal_mm=(70.0, 70.0), sizes=(size,), pitch_deg=(0, 0),
                  roll_deg=0.0, principal_jitter=0.0, height_scale=(1, 1))
    inside = []
    for keep in (False, True):
        pts, _, _ = mocap.film(np.random.default_rng(4), walk.h36m, walk.coco, 30.0,
                               mocap.CameraRanges(**ranges, keep_in_frame=keep), noise=None)
        inside.append(((pts >= 0) & (pts <= np.array(size))).all(axis=(1, 2)).mean())
    assert inside[0] < inside[1] < 1.0


def test_mirroring_swaps_sides(walk):
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    h36m, coco = walk.h36m[:27], walk.coco[:27]
    ranges = mocap.CameraRanges(yaw_deg=(90, 90), pitch_deg=(0, 0), roll_deg=0.0, aim_jitter_m=0.0,
                                principal_jitter=0.0, sizes=((1000, 1000),), height_scale=(1, 1))
    _, plain = mocap.synthesize(rng_a, h36m, coco, 30.0, ranges, noise=None)
    _, mirrored = mocap.synthesize(rng_b, h36m, coco, 30.0, ranges, noise=None, mirror=True)
    # The same camera sees the mirrored world: left and right joints trade their places.
    thigh_l = np.linalg.norm(plain[:, 5] - plain[:, 4], axis=-1)
    thigh_r_mirrored = np.linalg.norm(mirrored[:, 2] - mirrored[:, 1], axis=-1)
    np.testing.assert_allclose(thigh_l, thigh_r_mirrored, atol=1e-5)


def test_windows_are_reproducible_and_change_each_epoch(walk):
    data = mocap.MocapWindows([walk], length=27, windows_per_epoch=4, seed=5)
    a = data.window(1)[0]
    assert np.array_equal(a, data.window(1)[0])
    data.set_epoch(1)
    assert not np.array_equal(a, data.window(1)[0])
    x, y = data[0]
    assert tuple(x.shape) == (27, 17, 2) and tuple(y.shape) == (27, 17, 3)


def test_groups_are_held_out_whole():
    clips = [mocap.MocapClip(f"c{i}", "bandai", f"g{i % 20}", np.zeros((5, 17, 3), np.float32),
                             np.zeros((5, 17, 3), np.float32)) for i in range(200)]
    train, val = mocap.split_clips(clips, 0.2)
    assert val and train and len(train) + len(val) == 200
    assert not {c.group for c in train} & {c.group for c in val}
    assert mocap.clip_group("bandai", "dataset-2_walk-turn-left_youthful_003") == \
        "bandai/2/walk-turn-left/youthful"


def small_archives(folder, bandai_walk, cmu_clips):
    """Both archives in the shared layout with one Bandai walk, one CMU salsa and CMU's T-pose."""
    folder.mkdir()
    for name, files in (("bandai", {BANDAI_WALK: bandai_walk}),
                        ("cmu", {"train_data_bvh/salsa/01.bvh": cmu_clips["salsa"],
                                 "train_data_bvh/standard.bvh": cmu_clips["standard"]})):
        with tarfile.open(folder / mocap.ARCHIVES[name], "w:xz") as tar:
            for member, path in files.items():
                tar.add(path, arcname=member)
    return folder


def test_prepare_reads_archives_into_the_cache(tmp_path, bandai_walk, cmu_clips):
    """prepare() on small archives in the shared layout: every clip read, resampled to 30 fps."""
    shared = small_archives(tmp_path / "data", bandai_walk, cmu_clips)
    seen = []
    path = mocap.prepare(shared, tmp_path / "cache", lambda *a: seen.append(a))
    clips = mocap.load_clips(path)
    assert sorted(c.source for c in clips) == ["bandai", "cmu"]   # standard.bvh is skipped
    walk = next(c for c in clips if c.source == "bandai")
    assert len(walk) == read_bvh(bandai_walk).num_frames        # already 30 fps
    salsa = next(c for c in clips if c.source == "cmu")
    motion = read_bvh(cmu_clips["salsa"])
    assert abs(len(salsa) - (motion.num_frames - 1) / motion.fps * 30) <= 1.01
    assert mocap.prepare(shared, tmp_path / "cache") == path       # cached: not rebuilt
    assert any(stage == "reading motion capture" for stage, *_ in seen)


def test_training_on_motion_capture_ships_weights_that_say_their_licence(tmp_path, bandai_walk,
                                                                          cmu_clips):
    """The default recipe's data path end to end, on a tiny network: synthetic windows from the
    archives, training, and weights load_lifter reads, marked CC BY-NC 4.0 (the Bandai data)."""
    from safetensors import safe_open

    from liftrig.lifter.inference import load_lifter
    from liftrig.training.config import load_config
    from liftrig.training.loop import train

    cfg = load_config("liftrig_default")
    cfg["data"].update(root=str(small_archives(tmp_path / "data", bandai_walk, cmu_clips)),
                       cache=str(tmp_path / "cache"), windows_per_epoch=8, val_windows=4)
    cfg["model"].update(num_frames=9, dim=16, depth=1, num_heads=2)
    cfg["train"].update(epochs=2, batch_size=4, anneal_from_epoch=1, bone_weight_from_epoch=1)
    cfg["output"]["dir"] = str(tmp_path / "run")
    summary = train(cfg, show_progress=False)
    assert len(summary["history"]) == 2
    assert all(np.isfinite(h["loss"]) for h in summary["history"])
    weights = tmp_path / "run" / "last.safetensors"
    with safe_open(str(weights), "np") as f:
        meta = f.metadata()
    assert meta["license"] == "CC-BY-NC-4.0" and "non-commercial" in meta["license_note"]
    assert meta["recipe"] == "liftrig_default" and float(meta["fps"]) == mocap.TRAIN_FPS
    lifter = load_lifter(weights, device="cpu")
    assert lifter.lift(np.random.default_rng(0).uniform(0, 1000, (20, 17, 2)), fps=30.0,
                       size=(1920, 1080)).shape == (20, 17, 3)

    # Stage 2 (liftrig_default_finetune) starts from stage 1's weights, whole.
    import torch

    from liftrig.errors import LiftRigError
    from liftrig.training.loop import build, load_pretrained_weights

    cfg2 = load_config("liftrig_default_finetune")
    cfg2["data"].update(root=cfg["data"]["root"], cache=cfg["data"]["cache"], windows_per_epoch=8,
                        val_windows=4)
    cfg2["model"].update(num_frames=9, dim=16, depth=1, num_heads=2)
    cfg2["train"].update(epochs=1, batch_size=4, pretrained=str(weights))
    cfg2["output"]["dir"] = str(tmp_path / "run2")
    fresh = build(cfg2)
    assert load_pretrained_weights(fresh, str(weights), "mixste") == len(fresh.state_dict())
    for name, tensor in lifter.model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name
    assert len(train(cfg2, show_progress=False)["history"]) == 1
    cfg2["model"]["dim"] = 32
    with pytest.raises(LiftRigError, match="do not fit this recipe"):
        load_pretrained_weights(build(cfg2), str(weights), "mixste")


def test_source_shares_draw_a_small_source_as_often_as_asked():
    def clip(i, source, frames):
        return mocap.MocapClip(f"c{i}", source, f"{source}/g{i}", np.zeros((frames, 17, 3), np.float32),
                               np.zeros((frames, 17, 3), np.float32))
    clips = [clip(0, "bandai", 900), clip(1, "bandai", 300), clip(2, "cmu", 40), clip(3, "cmu", 60)]
    by_length = mocap.clip_weights(clips)
    np.testing.assert_allclose(by_length, [900 / 1300, 300 / 1300, 40 / 1300, 60 / 1300])
    shared = mocap.clip_weights(clips, {"cmu": 0.2})
    np.testing.assert_allclose(shared, [0.6, 0.2, 0.08, 0.12])     # by length within each source
    drawn = mocap.MocapWindows(clips, length=9, windows_per_epoch=2000, seed=3, noise=None,
                               source_shares={"cmu": 0.2})
    rng_clips = [drawn.window(k)[2].source for k in range(400)]
    assert 0.13 < rng_clips.count("cmu") / 400 < 0.27
    from liftrig.errors import LiftRigError
    for wrong in ({"cmu": 1.0}, {"mixamo": 0.1}, {"cmu": -0.1}):
        with pytest.raises(LiftRigError, match="data.source_shares"):
            mocap.clip_weights(clips, wrong)
