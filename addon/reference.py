# SPDX-License-Identifier: GPL-3.0-or-later
"""Inspection aids: the 3D joints as animated empties, and the solved camera with the video as
its background, so the motion can be checked against the footage."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from ..h36m import JOINT_NAMES
from .keyframes import Channel, assign_action, new_action, write_channels

BLENDER_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])  # camera looks down -Z with +Y up
SENSOR_MM = 36.0


def add_joint_empties(scene, name: str, points: np.ndarray, frame_start: int = 1):
    """An empty per Human3.6M joint following ``points`` [F, 17, 3] (metres, world), under one
    parent empty named ``NAME joints``; returns the parent."""
    parent = bpy.data.objects.new(f"{name} joints", None)
    parent.empty_display_type = "PLAIN_AXES"
    scene.collection.objects.link(parent)
    frames = frame_start + np.arange(len(points))
    for j, joint in enumerate(JOINT_NAMES):
        empty = bpy.data.objects.new(f"{name} {joint}", None)
        empty.empty_display_type = "SPHERE"
        empty.empty_display_size = 0.03
        empty.parent = parent
        scene.collection.objects.link(empty)
        target = new_action(f"{name} {joint}", "OBJECT", empty.name)
        write_channels(target, frames, [Channel("location", i, "Object Transforms",
                                                points[:, j, i]) for i in range(3)])
        assign_action(empty, target)
    return parent


def add_reference_camera(scene, name: str, camera_to_world: np.ndarray, size: tuple[int, int],
                         focal_px: float, video: Path | None = None, frame_start: int = 1):
    """A camera where the solve put the real one (``camera_to_world`` [4, 4], OpenCV axes),
    with the video's field of view and resolution, and the video as its background."""
    data = bpy.data.cameras.new(f"{name} camera")
    width, height = size
    data.sensor_fit = "HORIZONTAL" if width >= height else "VERTICAL"
    data.sensor_width = data.sensor_height = SENSOR_MM
    data.lens = focal_px / max(width, height) * SENSOR_MM
    cam = bpy.data.objects.new(f"{name} camera", data)
    from mathutils import Matrix

    cam.matrix_world = Matrix((np.asarray(camera_to_world) @ BLENDER_FROM_OPENCV).tolist())
    scene.collection.objects.link(cam)
    scene.render.resolution_x, scene.render.resolution_y = int(width), int(height)
    scene.render.resolution_percentage = 100
    scene.camera = cam
    if video is not None and Path(video).suffix.lower() != ".npz" and Path(video).is_file():
        clip = bpy.data.movieclips.load(str(Path(video).absolute()), check_existing=True)
        clip.frame_start = frame_start
        data.show_background_images = True
        background = data.background_images.new()
        background.source = "MOVIE_CLIP"
        background.clip = clip
        background.alpha = 0.6
    return cam
