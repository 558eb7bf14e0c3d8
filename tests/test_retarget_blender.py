# SPDX-License-Identifier: GPL-3.0-or-later
"""LiftRig's BVH files import with Blender's own BVH importer (the `bpy` module) and give the
same bone positions as the solver, for LiftRig's skeleton and for preset rigs."""

import numpy as np
import pytest

from liftrig.retarget.bvh import read_bvh
from liftrig.retarget.export import write_pose_bvh
from liftrig.retarget.mocap_map import mocap_to_h36m
from liftrig.retarget.end_to_end import RetargetOptions, retarget_points

bpy = pytest.importorskip("bpy")


@pytest.fixture(scope="module")
def walk(bandai_walk):
    motion = read_bvh(bandai_walk)
    return mocap_to_h36m(motion)[:45], motion.fps


def import_bvh(path, scale):
    import addon_utils

    addon_utils.enable("io_anim_bvh", default_set=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=str(path), global_scale=scale, rotate_mode="NATIVE")
    return next(o for o in bpy.data.objects if o.type == "ARMATURE")


@pytest.mark.parametrize("rig, units", [("builtin", "cm"), ("mixamo", "m"), ("rigify", "cm")])
def test_blender_imports_our_bvh_to_the_same_pose(walk, tmp_path, rig, units):
    world, fps = walk
    pose = retarget_points(world, fps, RetargetOptions(), rig).pose
    path = tmp_path / f"{rig}.bvh"
    write_pose_bvh(path, pose, fps, "ZXY", units)
    armature = import_bvh(path, 0.01 if units == "cm" else 1.0)
    assert sorted(b.name for b in armature.data.bones) == sorted(pose.rig.bone_names)
    action = armature.animation_data.action
    assert tuple(action.frame_range) == (1.0, float(pose.num_frames))
    scene = bpy.context.scene
    worst = 0.0
    for frame in range(0, pose.num_frames, 4):
        scene.frame_set(frame + 1)                           # the importer starts at frame 1
        to_world = np.array(armature.matrix_world)
        for b, name in enumerate(pose.rig.bone_names):
            head = to_world @ np.append(np.array(armature.pose.bones[name].head), 1.0)
            worst = max(worst, np.linalg.norm(head[:3] - pose.heads[frame, b]))
    assert worst < 1e-4                                      # metres
    moved = np.ptp(pose.heads[:, pose.bound.translation_bone], axis=0)
    assert moved[1] > 0.5                                    # root motion came through
