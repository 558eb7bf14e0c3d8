# SPDX-License-Identifier: GPL-3.0-or-later
"""Motion onto an armature (`addon/animation.py`) with the `bpy` module: keys on LiftRig's armature and on preset rigs,
the scene's timing, and failures that leave the scene exactly as it was."""

import numpy as np
import pytest

from blender_helpers import (WALK_FRAMES, preset_armature, save_walk_clip, scene_state,
                             stick_armature, world_heads)
from liftrig.errors import Cancelled, LiftRigError

bpy = pytest.importorskip("bpy")

from liftrig.addon import animation  # noqa: E402  (after bpy is known to be there)
from liftrig.addon.keyframes import SLOTTED_ACTIONS, action_fcurves_for  # noqa: E402
from liftrig.pipeline.solve import bind_spec, solve_for_blender  # noqa: E402


@pytest.fixture(scope="module")
def clip(tmp_path_factory, bandai_walk, film):
    """A joints file of a real walk at NTSC's 29.97 fps."""
    return save_walk_clip(tmp_path_factory.mktemp("clip") / "walk.npz", bandai_walk, film, 29.97)


@pytest.fixture
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def test_new_liftrig_armature_gets_the_solved_pose(clip, scene):
    motion = solve_for_blender(clip)
    applied = animation.apply_motion(scene, motion, "walk")
    obj = applied.armature
    assert applied.created_armature and obj.type == "ARMATURE"
    assert sorted(b.name for b in obj.data.bones) == sorted(motion.bone_names)
    assert obj.animation_data.action.name == "walk"
    if SLOTTED_ACTIONS:
        assert obj.animation_data.action_slot is not None
    curves = action_fcurves_for(obj)
    assert len(curves) == applied.curves == 4 * len(motion.keyed) + 3  # quaternions + location
    assert {len(fc.keyframe_points) for fc in curves} == {WALK_FRAMES}
    # 29.97 fps: 30 with a base of 30 / 29.97; the range is the clip's.
    assert scene.render.fps == 30 and scene.render.fps_base == pytest.approx(30 / 29.97, abs=1e-6)
    assert (scene.frame_start, scene.frame_end) == (1, WALK_FRAMES)
    worst = 0.0
    for frame in range(0, WALK_FRAMES, 7):
        scene.frame_set(frame + 1)
        worst = max(worst, np.abs(world_heads(obj, motion.keyed) - motion.heads[frame]).max())
    assert worst < 1e-4
    assert np.ptp(motion.heads[:, 0, 1]) > 0.5  # the walk moves the root


def test_mixamo_rig_imported_y_up_in_centimetres_is_detected_and_follows(clip, scene):
    obj = preset_armature(scene, "mixamo", yup_cm=True)
    motion = solve_for_blender(clip, animation.armature_spec(obj))
    assert "mixamo" in motion.report
    applied = animation.apply_motion(scene, motion, "walk", armature=obj)
    assert applied.armature == obj and not applied.created_armature
    assert len(bpy.data.objects) == 1
    worst = 0.0
    for frame in range(0, WALK_FRAMES, 11):
        scene.frame_set(frame + 1)
        worst = max(worst, np.abs(world_heads(obj, motion.keyed) - motion.heads[frame]).max())
    assert worst < 1e-3                                       # metres, through the 0.01 scale
    assert {obj.pose.bones[b].rotation_mode for b in motion.keyed} == {"QUATERNION"}


def test_json_map_binds_a_custom_rig(tmp_path, scene):
    import json

    from liftrig.retarget.presets import preset_bone_map

    obj = preset_armature(scene, "rigify-metarig")
    # The metarig's own preset map, written as a JSON file the user could have made.
    path = tmp_path / "map.json"
    path.write_text(json.dumps(preset_bone_map("rigify-metarig").to_dict()))
    bound, text = bind_spec(animation.armature_spec(obj), path)
    assert bound.rig.num_bones == len(obj.data.bones) and "driven" in text


def test_unmappable_armature_names_the_bones_and_changes_nothing(clip, scene):
    obj = stick_armature(scene)
    before = scene_state(bpy)
    with pytest.raises(LiftRigError, match="matches no preset.*lacks Pelvis, RHip"):
        animation.lift_to_scene(scene, clip, armature=obj)
    assert scene_state(bpy) == before


@pytest.mark.parametrize("on_existing", [False, True])
def test_cancel_while_writing_keys_leaves_the_scene_as_it_was(clip, scene, on_existing):
    armature = None
    if on_existing:
        armature = preset_armature(scene, "mixamo")
        armature.animation_data_create()
        armature.animation_data.action = bpy.data.actions.new("earlier work")
        armature.pose.bones[0].rotation_mode = "XYZ"
    scene.render.fps, scene.frame_start, scene.frame_end = 24, 5, 50
    before = scene_state(bpy)
    seen = []

    def cancel_midway(stage, done, total):
        seen.append(stage)
        if stage == "writing keys" and done >= 16:
            raise Cancelled()

    with pytest.raises(Cancelled):
        animation.lift_to_scene(scene, clip, armature=armature, progress=cancel_midway)
    assert "writing keys" in seen
    assert scene_state(bpy) == before


def test_missing_video_is_a_clear_error(tmp_path, scene):
    before = scene_state(bpy)
    with pytest.raises(LiftRigError, match="not found"):
        animation.lift_to_scene(scene, tmp_path / "nope.mp4")
    assert scene_state(bpy) == before


def test_fractional_and_whole_frame_rates():
    assert animation.scene_fps(29.97) == (30, pytest.approx(30 / 29.97))
    assert animation.scene_fps(23.976) == (24, pytest.approx(24 / 23.976))
    assert animation.scene_fps(60.0) == (60, 1.0)


def generate_rigify_rig():
    """A Rigify rig generated from the human metarig (Blender's bundled Rigify add-on)."""
    import addon_utils

    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    metarig = bpy.context.active_object
    bpy.ops.pose.rigify_generate()
    rig = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o is not metarig)
    bpy.data.objects.remove(metarig)
    return rig


def test_generated_rigify_rig_controls_point_where_the_solve_says(clip, scene):
    """Rigify's FK controls hang from constrained helper bones (MCH parents that keep their
    own rotation): the keys must account for what really carries each control."""
    rig = generate_rigify_rig()
    motion = solve_for_blender(clip, animation.armature_spec(rig))
    assert motion.report.startswith("rig recognised as rigify (100%")
    applied = animation.apply_motion(scene, motion, "walk", armature=rig)
    partial = set()
    if "partly" in applied.report:
        partial = set(applied.report.split("may be off: ")[1].split(", "))
    checked = [k for k, name in enumerate(motion.keyed) if name not in partial]
    assert len(checked) >= 10
    rest = {name: motion.rest_rotations[motion.bone_names.index(name)] for name in motion.keyed}
    to_world = np.array(rig.matrix_world)[:3, :3]
    worst = 0.0
    for frame in range(0, WALK_FRAMES, 15):
        scene.frame_set(frame + 1)
        for k in checked:
            name = motion.keyed[k]
            axis = to_world @ np.array(rig.pose.bones[name].matrix)[:3, 1]
            want = motion.world_rotations[frame, k] @ rest[name][:, 1]
            cos = axis @ want / np.linalg.norm(axis) / np.linalg.norm(want)
            worst = max(worst, np.degrees(np.arccos(np.clip(cos, -1, 1))))
    assert worst < 0.5                                         # degrees


def test_joint_empties_and_the_solved_camera_line_up_with_the_footage(clip, scene):
    from bpy_extras.object_utils import world_to_camera_view

    from liftrig.formats import Keypoints2D
    from liftrig.h36m import JOINT_NAMES

    applied = animation.lift_to_scene(scene, clip, empties=True, reference=True)
    kp = Keypoints2D.load(clip)
    cam = scene.camera
    assert cam is not None and cam.name == "walk camera"
    assert (scene.render.resolution_x, scene.render.resolution_y) == kp.size
    empties = [bpy.data.objects[f"walk {j}"] for j in JOINT_NAMES]
    assert all(e.parent.name == "walk joints" for e in empties)
    w, h = kp.size
    errors = []
    for frame in range(0, WALK_FRAMES, 10):
        scene.frame_set(applied.frame_start + frame)
        for j, empty in enumerate(empties):
            u, v, depth = world_to_camera_view(scene, cam, empty.matrix_world.translation)
            assert depth > 0
            errors.append(np.hypot(u * w - kp.keypoints[frame, j, 0],
                                   (1 - v) * h - kp.keypoints[frame, j, 1]))
    # The empties carry the cleaned (smoothed, foot-locked) points: about 1 px off the 2D.
    assert np.median(errors) < 3.0 and np.max(errors) < 10.0        # pixels in 1920 x 1080


def test_failure_after_empties_and_camera_removes_them_too(clip, scene, monkeypatch):
    before = scene_state(bpy)
    cameras = len(bpy.data.cameras)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(animation, "set_scene_timing", broken)
    with pytest.raises(RuntimeError):
        animation.lift_to_scene(scene, clip, empties=True, reference=True)
    assert scene_state(bpy) == before and len(bpy.data.cameras) == cameras
    assert scene.camera is None
