# SPDX-License-Identifier: GPL-3.0-or-later
"""Foot contacts, foot locking and the whole retargeting stage on real walking (Bandai Namco
mocap) filmed by a virtual camera, with the jitter a lifter's output has added."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from liftrig.formats import Joints3D
from liftrig.retarget.bvh import read_bvh
from liftrig.retarget.contacts import (ContactSettings, contact_intervals, detect_contacts,
                                       foot_skating, knee_angles)
from liftrig.retarget.mocap_map import mocap_to_h36m
from liftrig.retarget.end_to_end import RetargetOptions, retarget_clip, retarget_points
from liftrig.retarget.rotations import angle_between_rotations

# The lifter's output is not exact: MediaPipe's 2D keypoints jitter by a few pixels, and a
# temporal lifter's 3D errors are mostly slow (centimetres, correlated over ~0.3 s) with a
# little frame-to-frame noise. Pixels at 1920x1080; metres per joint and axis.
PIXEL_WHITE, PIXEL_SLOW = 2.0, 3.0
JOINT_WHITE, JOINT_SLOW = 0.005, 0.03


@pytest.fixture(scope="module")
def walk(bandai_walk):
    motion = read_bvh(bandai_walk)
    return mocap_to_h36m(motion), motion.fps


@pytest.fixture(scope="module")
def true_contacts(walk):
    """Contacts of the clean capture, with fixed thresholds (not scaled to the clip)."""
    world, fps = walk
    return detect_contacts(world, fps, ContactSettings(height_share=0.0, speed_share=0.0))


def jitter(rng, x, white, slow, frames):
    """White plus slow (Gaussian-filtered, ``frames`` wide) noise of the given std."""
    smooth = gaussian_filter1d(rng.normal(size=x.shape), frames, axis=0)
    return x + rng.normal(size=x.shape) * white + smooth / smooth.std() * slow


@pytest.fixture(scope="module")
def noisy_clip(walk, film):
    """The walk as the 2D stage and the lifter would give it, with realistic errors."""
    world, fps = walk
    mid = world[:, 0].mean(axis=0)
    kp, rel, _, rotation, _ = film(world, fps, mid + [7.0, 0.0, 0.5], mid, roll_deg=3.0)
    rng = np.random.default_rng(0)
    kp.keypoints = jitter(rng, kp.keypoints, PIXEL_WHITE, PIXEL_SLOW, 3).astype(np.float32)
    rel = jitter(rng, rel, JOINT_WHITE, JOINT_SLOW, 10)
    return kp, rel - rel[:, :1], rotation


def test_contacts_of_a_clean_walk_alternate(walk, true_contacts):
    world, fps = walk
    found = detect_contacts(world, fps)
    for k in range(2):
        steps = contact_intervals(found[:, k])
        assert len(steps) >= 3
        assert 0.35 < found[:, k].mean() < 0.75
    assert np.mean(found == true_contacts) > 0.85
    single = found[:, 0] ^ found[:, 1]
    assert single.mean() > 0.3                     # single support: one foot planted at a time


def test_foot_locking_removes_skating_from_jittery_joints(noisy_clip, true_contacts):
    """At least 80 % less foot skating than the raw joints, on the capture's own contacts,
    with knees that move no faster than the smoothed motion without locking (no pops)."""
    kp, rel, _ = noisy_clip
    raw = retarget_clip(Joints3D(kp, rel), RetargetOptions(smoothing=0.0, foot_lock=False))
    smoothed = retarget_clip(Joints3D(kp, rel), RetargetOptions(foot_lock=False))
    locked = retarget_clip(Joints3D(kp, rel), RetargetOptions())
    fps = kp.fps
    before = foot_skating(raw.world, true_contacts, fps)
    after = foot_skating(locked.world, true_contacts, fps)
    print(f"foot skating on the capture's contacts: raw {before:.3f} m/s, smoothed "
          f"{foot_skating(smoothed.world, true_contacts, fps):.3f}, locked {after:.3f} "
          f"({1 - after / before:.1%} less); on detected contacts {locked.skating_raw:.3f} -> "
          f"{locked.skating:.3f}; contacts agree on {np.mean(locked.contacts == true_contacts):.0%}")
    assert after < 0.2 * before
    assert np.mean(locked.contacts == true_contacts) > 0.8
    knee_speed = lambda r: np.abs(np.diff(knee_angles(r.world), axis=0)).max()  # noqa: E731
    assert knee_speed(locked) < knee_speed(smoothed) + 3.0          # degrees per frame
    assert np.abs(np.diff(knee_angles(raw.world), axis=0)).max() > knee_speed(locked)


def test_floor_from_jittery_joints(noisy_clip, walk, true_contacts):
    """With jitter, the camera's tilt comes back within 2 degrees and the planted ankles'
    height within 2 cm of the capture's."""
    world, _ = walk
    kp, rel, rotation = noisy_clip
    result = retarget_clip(Joints3D(kp, rel), RetargetOptions(foot_lock=False))
    up = result.world_frame.rotation.T @ [0.0, 0.0, 1.0]          # world up in camera space
    assert np.degrees(np.arccos(up @ rotation @ [0.0, 0.0, 1.0])) < 2.0
    ankles = (slice(None), [6, 3], 2)
    planted = np.median(result.world[ankles][true_contacts])
    assert abs(planted - np.median(world[ankles][true_contacts])) < 0.02


def test_in_place_keeps_the_pelvis_over_the_origin(walk):
    world, fps = walk
    result = retarget_points(world, fps, RetargetOptions(root_motion=False))
    np.testing.assert_allclose(result.world[:, 0, :2], 0.0, atol=1e-5)
    assert np.ptp(result.world[:, 0, 2]) > 0.01                     # the pelvis still bobs
    travelled = retarget_points(world, fps, RetargetOptions())
    assert np.linalg.norm(travelled.world[-1, 0, :2]) > 3.0


@pytest.mark.parametrize("rig", ["builtin", "mixamo", "ue5", "rigify"])
def test_walk_on_rigs_keeps_feet_planted_and_rotations_continuous(walk, true_contacts, rig):
    world, fps = walk
    result = retarget_points(world, fps, RetargetOptions(), rig)
    pose = result.pose
    steps = angle_between_rotations(pose.world_rotations[1:], pose.world_rotations[:-1])
    assert np.degrees(steps.max()) < 30.0                          # no flips
    q = pose.rotations
    assert (np.sum(q[1:] * q[:-1], -1) > 0).all()
    points = pose.points()                                         # where the rig has them
    assert foot_skating(points, true_contacts, fps) < 0.25 * foot_skating(world, true_contacts,
                                                                          fps) + 0.01


def _rolling_step(fps=30.0, frames=60):
    """A standing body whose left foot rolls from heel to toe-off: flat for the first half, then
    turning 40 degrees about its ball; its points drift 1 cm a frame (the lifter's slip). Returns
    (points [F, 17, 3], FootContacts, true ball [F, 3], true heel [F, 3])."""
    from scipy.spatial.transform import Rotation

    from liftrig.h36m import JOINT_INDEX as J
    from liftrig.retarget.contacts import FootContacts, foot_offsets
    from liftrig.retarget.presets import FORWARD, UP, canonical_h36m

    points = np.repeat(canonical_h36m("A")[None], frames, axis=0)
    pitch = np.radians(np.clip(np.arange(frames) - frames // 2, 0, None) * 40.0 / (frames // 2))
    turn = Rotation.from_rotvec(pitch[:, None] * np.array([1.0, 0.0, 0.0])).as_matrix()  # toes down
    aims = np.repeat(np.stack([FORWARD, FORWARD])[None], frames, axis=0)
    ups = np.repeat(np.stack([UP, UP])[None], frames, axis=0)
    aims[:, 0], ups[:, 0] = turn @ FORWARD, turn @ UP
    offsets = foot_offsets(points, aims, ups)                      # [F, 2, 2, 3]
    flat_offsets = foot_offsets(points[:1], aims[:1], ups[:1])[0]
    ball = points[0, J["LAnkle"]] + flat_offsets[0, 1]            # the foot turns about it
    ankle = ball - offsets[:, 0, 1]
    points[:, J["LAnkle"]] = ankle
    true_heel = ankle + offsets[:, 0, 0]
    drift = np.zeros((frames, 3))
    drift[:, 0] = 0.01 * np.arange(frames)
    contacts = np.zeros((frames, 2, 2), bool)
    contacts[: frames // 2 + 3, 0, 0] = True                      # the heel lifts
    contacts[:, 0, 1] = contacts[:, 1] = True                     # the ball stays; the right foot
    return points + drift[:, None], FootContacts(offsets, contacts, np.ones((frames, 2))), \
        np.repeat(ball[None], frames, axis=0), true_heel


def test_rolling_contact_keeps_the_ball_down_while_the_heel_rises():
    from liftrig.h36m import JOINT_INDEX as J
    from liftrig.retarget.contacts import lock_feet

    points, feet, ball, heel = _rolling_step()
    ankle_contacts = np.ones((len(points), 2), bool)
    rolled = lock_feet(points, ankle_contacts, 30.0, feet=feet)
    ankle_only = lock_feet(points, ankle_contacts, 30.0)
    for locked, ball_error in ((rolled, 0.01), (ankle_only, None)):
        got_ball = locked[:, J["LAnkle"]] + feet.offsets[:, 0, 1]
        drift = np.linalg.norm(got_ball[:, :2] - got_ball[:1, :2], axis=-1).max()
        if ball_error is not None:
            assert drift < ball_error, drift               # the ball stays where it landed
            rise = locked[-1, J["LAnkle"], 2] - locked[0, J["LAnkle"], 2]
            assert rise > 0.05                              # the ankle rises as the heel does
            got_heel = locked[:, J["LAnkle"]] + feet.offsets[:, 0, 0]
            early = slice(0, len(points) // 2)
            assert np.ptp(got_heel[early, :2], axis=0).max() < 0.01  # the heel, while down
        else:
            assert drift > 0.05                             # the ankle alone lets the ball slide


def test_chained_spots_put_the_ball_where_the_planted_heel_puts_it():
    from liftrig.retarget.contacts import _chain_spots

    frames = 30
    offsets = np.zeros((frames, 2, 3))
    offsets[:, 1] = [0.0, -0.18, 0.0]                       # the ball 18 cm ahead of the heel
    contacts = np.zeros((frames, 2), bool)
    contacts[0:20, 0] = True                                # heel strike ...
    contacts[8:30, 1] = True                                # ... the ball comes down, toe-off
    heel_spot = np.full((frames, 3), [1.0, 2.0, 0.0])
    ball_spot = np.full((frames, 3), [1.03, 1.80, 0.01])    # its own median: 3 cm aside
    heel, ball = _chain_spots([heel_spot, ball_spot], contacts, offsets)
    np.testing.assert_allclose(heel, heel_spot)             # the heel came first: it anchors
    np.testing.assert_allclose(ball[8:30], np.full((22, 3), [1.0, 1.82, 0.0]), atol=1e-12)
