# SPDX-License-Identifier: GPL-3.0-or-later
"""FBX and BVH written through Blender's exporters come back through Blender's importers, in an
empty scene, with the clip's frames, the rig's bones, root motion, the rest pose, and joint
positions matching the joints they were made from."""

import numpy as np
import pytest

from blender_helpers import WALK_FRAMES, preset_armature, save_walk_clip, world_heads
from liftrig.h36m import JOINT_NAMES

bpy = pytest.importorskip("bpy")

from liftrig.addon import animation, export  # noqa: E402
from liftrig.pipeline.solve import solve_for_blender  # noqa: E402


@pytest.fixture(scope="module")
def clip(tmp_path_factory, bandai_walk, film):
    return save_walk_clip(tmp_path_factory.mktemp("clip") / "walk.npz", bandai_walk, film, 30.0)


def reimport(path):
    """Import ``path`` into an empty scene with Blender's importer; returns (armature, first
    frame of its action)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if path.suffix == ".fbx":
        export.ensure_addon("io_scene_fbx")
        # anim_offset=0: the importer would otherwise shift the keys one frame later.
        bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)
    else:
        export.ensure_addon("io_anim_bvh")
        # Blender's BVH exporter writes Blender's own axes (Z up): read them back unchanged.
        bpy.ops.import_anim.bvh(filepath=str(path), rotate_mode="NATIVE", axis_forward="Y",
                                axis_up="Z", update_scene_fps=True,
                                global_scale=1 / export.BVH_SCALE)  # the file is in cm
    armatures = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(armatures) == 1 and len(bpy.data.objects) == 1   # only the armature went out
    arm = armatures[0]
    return arm, int(round(arm.animation_data.action.frame_range[0]))


@pytest.mark.parametrize("fmt", ["fbx", "bvh"])
@pytest.mark.parametrize("rig", ["builtin", "mixamo"])
def test_export_reimports_with_frames_bones_root_motion_and_joints(clip, tmp_path, fmt, rig):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    armature = None if rig == "builtin" else preset_armature(scene, rig, yup_cm=fmt == "fbx")
    motion = solve_for_blender(clip, None if armature is None else animation.armature_spec(armature))
    applied = animation.apply_motion(scene, motion, "walk", armature=armature)
    rest_before = {b.name: np.array(b.head_local) for b in applied.armature.data.bones}
    path = tmp_path / f"walk.{fmt}"
    if fmt == "fbx":
        export.export_fbx(applied.armature, path)
    else:
        export.export_bvh(applied.armature, path)
    assert scene.frame_current == 1 and not list(tmp_path.glob(".*"))   # no leftovers

    arm, first = reimport(path)
    names = motion.bone_names
    assert len(arm.data.bones) == len(names)                           # no leaf bones added
    assert {b.name for b in arm.data.bones} == set(names)
    frame_range = arm.animation_data.action.frame_range
    assert round(frame_range[1] - frame_range[0]) + 1 == WALK_FRAMES
    if fmt == "fbx" and rig == "builtin":  # the rest pose is the rig's, not a posed frame
        rest = {b.name: np.array(arm.matrix_world) @ np.append(np.array(b.head_local), 1)
                for b in arm.data.bones}
        assert max(np.abs(rest[n][:3] - rest_before[n]).max() for n in names) < 1e-4

    heads = np.empty((WALK_FRAMES, len(motion.keyed), 3))
    for frame in range(WALK_FRAMES):
        bpy.context.scene.frame_set(first + frame)
        heads[frame] = world_heads(arm, motion.keyed)
    assert np.abs(heads - motion.heads).max() < 1e-4                   # metres
    root = heads[:, motion.keyed.index(motion.translation_bone)]
    assert np.ptp(root[:, 1]) > 0.5                                   # root motion came through
    if rig == "builtin":  # LiftRig's bones start at the 17 joints it was solved from
        joints = [i for i, n in enumerate(JOINT_NAMES) if n in motion.keyed]
        at = [motion.keyed.index(JOINT_NAMES[i]) for i in joints]
        assert len(joints) >= 10
        assert np.abs(heads[:, at] - motion.world[:, joints]).max() < 1e-3
