# SPDX-License-Identifier: GPL-3.0-or-later
"""Root path from 2D + 3D, floor and camera tilt, facing: on a real walk filmed by a virtual
camera, where the true camera-space trajectory is known exactly."""

import numpy as np
import pytest

from liftrig.errors import LiftRigError
from liftrig.retarget.bvh import read_bvh
from liftrig.retarget.mocap_map import mocap_to_h36m
from liftrig.retarget.root_path import PinholeCamera, solve_root
from liftrig.retarget.world import estimate_up, world_frame


@pytest.fixture(scope="module")
def walk(bandai_walk):
    motion = read_bvh(bandai_walk)
    return mocap_to_h36m(motion), motion.fps


def side_camera(world, height=1.6, distance=8.0):
    """Beside the walking line, looking at its middle."""
    mid = world[:, 0].mean(axis=0)
    return mid + np.array([distance, 0.0, height - mid[2]]), mid


def test_root_path_from_exact_projections(walk, film):
    world, fps = walk
    position, target = side_camera(world)
    kp, rel, cam, _, _ = film(world, fps, position, target, roll_deg=4.0)
    camera = PinholeCamera.from_fov(kp.size, 60.0)
    root = solve_root(kp.keypoints, kp.scores, rel, camera)
    assert np.abs(root - cam[:, 0]).max() < 1e-4        # metres (pixels are stored as float32)
    # Undetected joints cost nothing, undetected frames borrow their neighbours' root.
    scores = kp.scores.copy()
    scores[::3, [3, 6, 13, 16]] = 0.0
    valid = np.ones(kp.num_frames, bool)
    valid[40:42] = False
    error = np.abs(solve_root(kp.keypoints, scores, rel, camera, valid) - cam[:, 0]).max(-1)
    assert error[valid].max() < 1e-4 and error[~valid].max() < 0.01


def test_root_solve_needs_some_confident_keypoints(walk, film):
    world, fps = walk
    kp, rel, _, _, _ = film(world[:10], fps, *side_camera(world))
    with pytest.raises(LiftRigError, match="confident keypoints"):
        solve_root(kp.keypoints, np.zeros((10, 17)), rel, PinholeCamera.from_fov(kp.size))


@pytest.mark.parametrize("height, roll", [(1.6, 0.0), (4.0, 8.0), (0.5, -6.0)])
def test_floor_and_camera_tilt_are_recovered(walk, film, height, roll):
    """Cameras looking down steeply, up from low, and rolled: the floor's normal in camera space
    comes back within a degree, and world heights match the capture's within 2 cm."""
    world, fps = walk
    position, target = side_camera(world, height)
    _, _, cam, rotation, _ = film(world, fps, position, target, roll_deg=roll)
    true_up = rotation @ np.array([0.0, 0.0, 1.0])
    up = estimate_up(cam, fps)
    assert np.degrees(np.arccos(np.clip(up @ true_up, -1, 1))) < 1.0
    placed = world_frame(cam, fps).apply(cam)
    assert np.abs(placed[..., 2] - world[..., 2]).max() < 0.02


@pytest.mark.parametrize("facing, axis", [("-y", [0, -1, 0]), ("+x", [1, 0, 0]),
                                          ("camera", None)])
def test_subject_faces_the_chosen_axis_from_the_origin(walk, film, facing, axis):
    world, fps = walk
    position, target = side_camera(world)
    _, _, cam, rotation, _ = film(world, fps, position, target)
    frame = world_frame(cam, fps, facing)
    placed = frame.apply(cam)
    np.testing.assert_allclose(placed[0, 0, :2], 0.0, atol=1e-9)     # pelvis starts at origin
    hips = placed[:15, 4] - placed[:15, 1]
    forward = np.cross(hips.mean(axis=0), [0, 0, 1.0])
    forward /= np.linalg.norm(forward)
    if axis is None:                           # the camera looks along +Y at the subject
        optical = frame.rotation @ [0.0, 0.0, 1.0]
        assert abs(optical[0]) < 1e-9 and optical[1] > 0.9
        camera_position = frame.apply(np.zeros(3))
        assert camera_position[1] < placed[0, 0, 1]
    else:
        assert forward @ np.array(axis, float) > np.cos(np.radians(10))
    with pytest.raises(LiftRigError, match="facing"):
        world_frame(cam, fps, "north")
