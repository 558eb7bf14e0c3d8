# SPDX-License-Identifier: GPL-3.0-or-later
"""FBX, BVH and .blend output through Blender's own exporters, with every option spelled out.

Each file is written to a temporary name beside the target and renamed into place, so a failed
export leaves no half-written file and an existing one untouched.

FBX axes: ``axis_forward="-Z"``, ``axis_up="Y"`` (Blender's defaults, what Unity, Unreal and
Maya expect; Blender's importer turns them back into Z up), bones along +Y
(``primary_bone_axis="Y"``, ``secondary_bone_axis="X"``), units metres written as FBX
centimetres with a unit scale (``apply_unit_scale=True``, ``global_scale=1``).
BVH: Blender's exporter writes Y up (its importer's defaults read it back), in metres
(``global_scale=1``); LiftRig's own writer (``liftrig.retarget.export``) writes centimetres.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import bpy

from ..errors import LiftRigError
from ..fileio import temporary_beside
from .keyframes import action_fcurves_for

FBX_OPTIONS = dict(
    use_selection=True, object_types={"ARMATURE"}, add_leaf_bones=False,
    use_armature_deform_only=False, armature_nodetype="NULL",
    primary_bone_axis="Y", secondary_bone_axis="X",
    axis_forward="-Z", axis_up="Y", global_scale=1.0, apply_unit_scale=True,
    apply_scale_options="FBX_SCALE_NONE", bake_space_transform=False,
    bake_anim=True, bake_anim_use_all_bones=True, bake_anim_use_nla_strips=False,
    bake_anim_use_all_actions=False, bake_anim_force_startend_keying=True,
    bake_anim_step=1.0, bake_anim_simplify_factor=0.0,
    use_custom_props=False, path_mode="AUTO", embed_textures=False, batch_mode="OFF",
)


@contextlib.contextmanager
def _written_atomically(path: Path, suffix: str):
    """Yield a temporary path (ending in ``suffix``) beside ``path``; rename it on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path)
    os.close(fd)
    os.unlink(tmp)
    tmp = tmp + suffix
    try:
        yield tmp
        if not os.path.isfile(tmp):
            raise LiftRigError(f"Blender's exporter wrote nothing for {path}")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _only(obj):
    """A context in which ``obj`` is the active and only selected object."""
    return bpy.context.temp_override(active_object=obj, object=obj, selected_objects=[obj],
                                     selected_editable_objects=[obj])


def _keeping_current_frame(scene):
    """Put the scene back on its current frame after an exporter has stepped through frames."""
    frame = scene.frame_current

    @contextlib.contextmanager
    def guard():
        try:
            yield
        finally:
            scene.frame_set(frame)
    return guard()


REST_VALUES = {"rotation_quaternion": (1.0, 0.0, 0.0, 0.0), "scale": (1.0, 1.0, 1.0),
               "rotation_axis_angle": (0.0, 0.0, 1.0, 0.0)}


@contextlib.contextmanager
def posed_at_rest(obj, scene):
    """Show ``obj`` in its rest pose at the scene's current frame, the clip's frames unchanged.

    Blender's FBX exporter writes the current pose as the bones' static transforms, which
    importers take for the rest pose. So for the export a rest key is added one frame before the
    scene's range (and removed afterwards), unanimated bones are reset, and the current frame
    is moved there; the baked frames are not affected.
    """
    frame = scene.frame_current
    rest_frame = scene.frame_start - 1
    added, replaced = [], []
    for fc in action_fcurves_for(obj):
        prop = fc.data_path.rsplit(".", 1)[-1]
        value = (REST_VALUES[prop][fc.array_index] if prop in REST_VALUES
                 else 0.0 if prop in ("location", "rotation_euler") else None)
        if value is None:
            continue
        existing = next((k for k in fc.keyframe_points if abs(k.co[0] - rest_frame) < 1e-4), None)
        if existing is not None:
            replaced.append((fc, rest_frame, existing.co[1]))
        else:
            added.append((fc, rest_frame))
        fc.keyframe_points.insert(rest_frame, value, options={"FAST"})
        fc.update()
    saved = {pb.name: pb.matrix_basis.copy() for pb in obj.pose.bones}
    for pb in obj.pose.bones:
        pb.matrix_basis.identity()
    scene.frame_set(rest_frame)
    try:
        yield
    finally:
        for fc, at in added:
            key = next((k for k in fc.keyframe_points if abs(k.co[0] - at) < 1e-4), None)
            if key is not None:
                fc.keyframe_points.remove(key, fast=True)
            fc.update()
        for fc, at, value in replaced:
            fc.keyframe_points.insert(at, value, options={"FAST", "REPLACE"})
            fc.update()
        for name, basis in saved.items():
            obj.pose.bones[name].matrix_basis = basis
        scene.frame_set(frame)


def export_fbx(obj, path, scene=None) -> Path:
    """The armature ``obj`` and its active action as FBX (only the armature, no leaf bones,
    this action only, the armature's rest pose as the bind pose)."""
    scene = scene or bpy.context.scene
    if obj is None or obj.type != "ARMATURE":
        raise LiftRigError("FBX export needs an armature")
    ensure_addon("io_scene_fbx")
    path = Path(path)
    with _written_atomically(path, ".fbx") as tmp, posed_at_rest(obj, scene), _only(obj):
        result = bpy.ops.export_scene.fbx(filepath=tmp, check_existing=False, **FBX_OPTIONS)
        if "FINISHED" not in result:
            raise LiftRigError(f"Blender's FBX exporter failed for {path}")
    return path


BVH_SCALE = 100.0  # metres -> centimetres, as retarget/export.write_pose_bvh's default


def export_bvh(obj, path, frame_start: int | None = None, frame_end: int | None = None,
               scene=None) -> Path:
    """The armature ``obj``'s animation as BVH through Blender's exporter (native rotation
    orders, the armature's own axes), over the scene's frame range unless given. Lengths in
    centimetres (scale 100), the unit of LiftRig's own BVH writer too, so the same request
    gives the same unit whichever way it goes (import with scale 0.01)."""
    scene = scene or bpy.context.scene
    if obj is None or obj.type != "ARMATURE":
        raise LiftRigError("BVH export needs an armature")
    ensure_addon("io_anim_bvh")
    path = Path(path)
    start = scene.frame_start if frame_start is None else frame_start
    end = scene.frame_end if frame_end is None else frame_end
    with _written_atomically(path, ".bvh") as tmp, _keeping_current_frame(scene), _only(obj):
        result = bpy.ops.export_anim.bvh(filepath=tmp, check_existing=False, frame_start=start,
                                         frame_end=end, global_scale=BVH_SCALE, rotate_mode="NATIVE",
                                         root_transform_only=False)
        if "FINISHED" not in result:
            raise LiftRigError(f"Blender's BVH exporter failed for {path}")
    return path


def save_blend(path) -> Path:
    """Save a copy of the open file as ``path`` (the open file keeps its own name)."""
    path = Path(path)
    with _written_atomically(path, ".blend") as tmp:
        bpy.ops.wm.save_as_mainfile(filepath=tmp, copy=True, check_existing=False,
                                    compress=True)
    return path


def ensure_addon(module: str) -> None:
    """Enable a bundled add-on (the FBX or BVH importer/exporter) if it is off."""
    import addon_utils

    loaded, enabled = addon_utils.check(module)
    if not enabled:
        addon_utils.enable(module, default_set=True)
