# SPDX-License-Identifier: GPL-3.0-or-later
"""BVH reading, forward kinematics and writing; rotation continuity of exported curves."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from liftrig.errors import LiftRigError
from liftrig.h36m import BONES
from liftrig.retarget import bvh
from liftrig.retarget.mocap_map import mocap_to_h36m
from liftrig.retarget.rotations import (continuous_quaternions, euler_from_matrix,
                                        matrix_from_euler, quat_from_matrix)

# Two joints with 6 and 3 channels in unusual orders, an End Site, a second root, CRLF lines.
SMALL = """HIERARCHY\r
ROOT hips\r
{\r
  OFFSET 1 2 3\r
  CHANNELS 6 Yposition Xposition Zposition Xrotation Zrotation Yrotation\r
  JOINT upper leg {\r
    OFFSET 0 -10 0\r
    CHANNELS 3 Yrotation Xrotation Zrotation\r
    End Site\r
    {\r
      OFFSET 0 -5 0\r
    }\r
  }\r
}\r
ROOT prop\r
{\r
  OFFSET 50 0 0\r
  CHANNELS 3 Zrotation Yrotation Xrotation\r
}\r
MOTION\r
Frames: 2\r
Frame Time: 0.04\r
20 10 30 90 0 0 0 0 0 0 0 0\r
20 10 30 0 0 0 0 90 0 0 0 90\r
"""


def test_reads_any_channel_order_end_sites_and_several_roots():
    m = bvh.parse_bvh(SMALL)
    sk = m.skeleton
    assert sk.names == ("hips", "upper leg", "prop")
    assert sk.parents == (-1, 0, -1)
    assert sk.has_end.tolist() == [False, True, False]
    assert m.num_frames == 2 and m.fps == pytest.approx(25.0)
    pose = bvh.forward_kinematics(m)
    # Frame 0: root at its position channels (x=10, y=20, z=30), rotated 90 deg about X, so the
    # leg's offset (0, -10, 0) points along -Z.
    np.testing.assert_allclose(pose.positions[0, 0], [10, 20, 30], atol=1e-9)
    np.testing.assert_allclose(pose.positions[0, 1], [10, 20, 20], atol=1e-9)
    np.testing.assert_allclose(pose.end_positions[0, 1], [10, 20, 15], atol=1e-9)
    # Frame 1: the leg turns 90 deg about X (its second channel), its end site swings to -Z.
    np.testing.assert_allclose(pose.end_positions[1, 1], [10, 10, 25], atol=1e-9)
    np.testing.assert_allclose(pose.positions[1, 2], [50, 0, 0], atol=1e-9)


@pytest.mark.parametrize("text, where", [
    ("", "empty"),
    ("HIERARCHY\nROOT a\n{\n OFFSET 0 0\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\n\n", "line 4"),
    ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 1 Wrotation\n}\nMOTION\n", "line 5"),
    ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 1 Xrotation\nMOTION\nFrames: 1\n"
     "Frame Time: 0.1\n0\n", "unclosed"),
    ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 2 Xrotation Yrotation\n}\nMOTION\n"
     "Frames: 2\nFrame Time: 0.1\n1 2\n3\n", "not whole frames"),
    ("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 1 Xrotation\n}\nMOTION\nFrames: 1\n"
     "Frame Time: 0.1\nabc\n", "'abc'"),
])
def test_malformed_files_say_where(text, where):
    with pytest.raises(LiftRigError, match=where):
        bvh.parse_bvh(text)


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX", "ZYX", "XZY", "YXZ"])
def test_channels_round_trip_in_every_order(order):
    rng = np.random.default_rng(0)
    names = ("root", "a", "b")
    sk = bvh.make_skeleton(names, (-1, 0, 1), rng.normal(size=(3, 3)), rng.normal(size=(3, 3)),
                           order, position_joints=(0, 2))
    rot = Rotation.random(40 * 3, random_state=1).as_matrix().reshape(40, 3, 3, 3)
    trans = rng.normal(size=(40, 3, 3))
    values = bvh.encode_channels(sk, rot, trans)
    text = bvh.format_bvh(bvh.BvhMotion(sk, 1 / 30, values), precision=9)
    back = bvh.parse_bvh(text)
    assert back.skeleton.channels == sk.channels
    r2, t2 = bvh.local_transforms(back)
    np.testing.assert_allclose(r2, rot, atol=1e-7)
    np.testing.assert_allclose(t2[:, [0, 2]], trans[:, [0, 2]], atol=1e-8)
    np.testing.assert_allclose(t2[:, 1], np.broadcast_to(sk.offsets[1], (40, 3)), atol=1e-8)


def test_euler_curves_are_continuous_through_gimbal_and_wraparound():
    """A spin about each axis and a pass through the middle angle's +-90 deg: the exported
    angles change smoothly (no 360 deg jumps, no flip to the other Euler solution)."""
    t = np.linspace(0, 1, 400)
    spin = np.stack([720 * t, 100 * np.sin(6 * t), 30 * np.cos(3 * t)], -1)   # yaw 2 turns
    m = matrix_from_euler(spin, "ZXY")
    angles = euler_from_matrix(m, "ZXY")
    np.testing.assert_allclose(matrix_from_euler(angles, "ZXY"), m, atol=1e-9)
    assert np.abs(np.diff(angles, axis=0)).max() < 15.0
    q = continuous_quaternions(quat_from_matrix(m))
    assert (np.sum(q[1:] * q[:-1], -1) > 0).all()


def test_writer_orders_joints_depth_first_whatever_the_skeleton_order():
    """A skeleton listed breadth first is written depth first with its channels moved along."""
    names = ("root", "l", "r", "l2", "r2")
    parents = (-1, 0, 0, 1, 2)
    offsets = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, 2, 0]], float)
    sk = bvh.make_skeleton(names, parents, offsets)
    rot = Rotation.random(5 * 5, random_state=2).as_matrix().reshape(5, 5, 3, 3)
    motion = bvh.BvhMotion(sk, 0.1, bvh.encode_channels(sk, rot))
    back = bvh.parse_bvh(bvh.format_bvh(motion, 9))
    assert back.skeleton.names == ("root", "l", "l2", "r", "r2")
    want = bvh.forward_kinematics(motion).positions[:, [0, 1, 3, 2, 4]]
    np.testing.assert_allclose(bvh.forward_kinematics(back).positions, want, atol=1e-7)


def test_write_is_atomic_and_reads_back(tmp_path):
    m = bvh.parse_bvh(SMALL)
    out = tmp_path / "x.bvh"
    bvh.write_bvh(out, m)
    assert [p.name for p in tmp_path.iterdir()] == ["x.bvh"]
    np.testing.assert_allclose(bvh.read_bvh(out).values, m.values)


def test_reads_real_bandai_and_cmu_files(bandai_walk, cmu_clips):
    """Both shared skeletons: 22 joints x 6 channels in cm (Bandai), 43 joints in cm (CMU),
    and their Human3.6M points keep constant bone lengths with the left side at +X."""
    walk = bvh.read_bvh(bandai_walk)
    assert walk.skeleton.num_joints == 22 and walk.fps == pytest.approx(30.0, abs=1e-3)
    assert all(len(c) == 6 for c in walk.skeleton.channels)
    assert bvh.guess_unit_scale(walk.skeleton) == 0.01
    standard = bvh.read_bvh(cmu_clips["standard"])
    salsa = bvh.read_bvh(cmu_clips["salsa"])
    assert standard.skeleton.names == salsa.skeleton.names
    assert salsa.skeleton.num_joints == 43 and bvh.guess_unit_scale(salsa.skeleton) == 0.01
    assert salsa.skeleton.channels[0][3:] == ("Zrotation", "Yrotation", "Xrotation")
    for motion in (walk, salsa):
        pts = mocap_to_h36m(motion)                                    # [F, 17, 3]
        lengths = np.stack([np.linalg.norm(pts[:, c] - pts[:, p], axis=-1) for p, c in BONES], 1)
        assert lengths.std(axis=0).max() < 0.01                        # metres
        assert 1.3 < pts[..., 2].max() - pts[..., 2].min() < 2.2       # a person's height
        hips = pts[:, 4] - pts[:, 1]                                   # LHip - RHip
        right = np.cross(pts[:, 9] - pts[:, 0], [0, 0, 1.0])           # forward x up
        assert np.mean(np.sum(hips * right, -1) < 0) > 0.9             # left is not right
