# SPDX-License-Identifier: GPL-3.0-or-later
"""Motion onto an armature, all or nothing: what the headless batch and the panel
call. Reads a rig's rest pose for the solver, creates LiftRig's own armature, writes the action,
sets the scene's frame rate and range. Any failure (or :class:`Cancelled` from ``progress``)
leaves the scene as it was: no new objects, no half-written action.

Split for the panel's background jobs: :func:`armature_spec` (main thread, reads Blender data)
-> :func:`liftrig.pipeline.solve.solve_for_blender` (no Blender data; in a thread or a worker process)
-> :func:`apply_motion` (main thread, writes Blender data). :func:`lift_to_scene` chains the
three. This side imports numpy only (Blender's Python has no scipy): the solver runs in
:mod:`liftrig.pipeline` or its worker.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from ..errors import LiftRigError
from ..motion import ArmatureSpec, KeyedMotion, keyed_quaternions
from ..progress import ProgressFn, report
from .keyframes import assign_action, new_action, pose_channels, write_channels


# --- reading a rig ---------------------------------------------------------------------------

def armature_scale(obj) -> float:
    """The armature object's uniform world scale (non-uniform scale cannot be retargeted)."""
    scale = np.array(obj.matrix_world.to_scale())
    if not np.allclose(scale, scale[0], rtol=1e-4):
        raise LiftRigError(f"armature {obj.name!r} has a non-uniform scale {tuple(scale)}: "
                           "apply the scale (Ctrl+A) first")
    return float(scale[0])


def armature_spec(obj) -> ArmatureSpec:
    """The armature's rest pose for the solver, in world space (metres, unscaled frames), so
    rigs imported with a rotation or a 0.01 scale (FBX from Mixamo) retarget correctly."""
    if obj is None or obj.type != "ARMATURE":
        raise LiftRigError(f"{getattr(obj, 'name', obj)!r} is not an armature")
    bones = obj.data.bones
    if len(bones) == 0:
        raise LiftRigError(f"armature {obj.name!r} has no bones")
    scale = armature_scale(obj)
    to_world = np.array(obj.matrix_world)
    rotation = to_world.copy()
    rotation[:3, :3] /= scale
    matrices = rotation @ np.array([np.array(b.matrix_local) for b in bones])
    heads = np.array([np.append(np.array(b.head_local), 1.0) for b in bones])
    matrices[:, :3, 3] = (heads @ to_world.T)[:, :3]
    return ArmatureSpec(obj.name, tuple(b.name for b in bones),
                        tuple(b.parent.name if b.parent else None for b in bones),
                        matrices, np.array([b.length for b in bones]) * scale)


def find_armature(objects, name: str | None = None):
    """The armature among ``objects`` (the one named ``name``, or the one with the most
    bones); a clear error when there is none."""
    armatures = [o for o in objects if o.type == "ARMATURE"]
    if name:
        found = [o for o in armatures if o.name == name]
        if not found:
            raise LiftRigError(f"no armature named {name!r}; armatures: "
                               f"{', '.join(o.name for o in armatures) or 'none'}")
        return found[0]
    if not armatures:
        raise LiftRigError("no armature found: the rig file has no armature object")
    return max(armatures, key=lambda o: len(o.data.bones))


# --- constraints: which driven bone really carries each driven bone ---------------------------

TEST_ROTATION = (0.8775826, 0.2590, 0.3452, 0.2158)   # about 58 degrees about a skewed axis


def _evaluated_deltas(obj, names) -> np.ndarray:
    """Each bone's evaluated rotation from its rest, armature space [B, 3, 3]."""
    bpy.context.view_layer.update()
    pose, bones = obj.pose.bones, obj.data.bones
    return np.array([np.array(pose[n].matrix.to_3x3()) @ np.array(bones[n].matrix_local.to_3x3()).T
                     for n in names])


def effective_parents(obj, names, tolerance: float = 1e-3) -> tuple[dict, list[str]]:
    """For each driven bone, the driven bone whose rotation it really follows (None: none),
    measured by turning each driven bone in Blender and evaluating the rig (constraints and
    all), so rigs whose controls hang from constrained helper bones (Rigify's MCH parents with
    "follow" switches) are keyed right. Returns (bone -> carrier or None, bones that follow a
    driven bone only partly). The pose and action are restored afterwards."""
    from mathutils import Matrix, Quaternion

    anim = obj.animation_data
    action = anim.action if anim else None
    saved = {pb.name: pb.matrix_basis.copy() for pb in obj.pose.bones}
    try:
        if anim is not None:
            anim.action = None
        for pb in obj.pose.bones:
            pb.matrix_basis = Matrix.Identity(4)
        base = _evaluated_deltas(obj, names)
        turn = Quaternion(TEST_ROTATION).to_matrix().to_4x4()
        moved = {}
        for c in names:
            obj.pose.bones[c].matrix_basis = turn
            moved[c] = _evaluated_deltas(obj, names) @ np.swapaxes(base, -1, -2)
            obj.pose.bones[c].matrix_basis = Matrix.Identity(4)
    finally:
        for name, basis in saved.items():
            obj.pose.bones[name].matrix_basis = basis
        if anim is not None:
            anim.action = action
        bpy.context.view_layer.update()
    index = {n: i for i, n in enumerate(names)}
    full = {b: set() for b in names}
    partial = []
    for c in names:
        turned = moved[c][index[c]]
        for b in names:
            if b == c:
                continue
            e = moved[c][index[b]]
            if np.abs(e - turned).max() < tolerance:
                full[b].add(c)
            elif np.abs(e - np.eye(3)).max() > tolerance:
                partial.append(b)
    carriers = {}
    for b in names:
        # The deepest carrier: the one that the other carriers of b also carry.
        carriers[b] = max(full[b], key=lambda c: (len(full[c] & full[b]), c), default=None)
    return carriers, sorted(set(partial))


# --- writing into the scene ------------------------------------------------------------------

def scene_fps(fps: float) -> tuple[int, float]:
    """Blender's (``render.fps``, ``render.fps_base``) for a frame rate: 29.97 -> (30, 1.001)."""
    base_fps = max(1, int(round(fps)))
    return base_fps, base_fps / float(fps)


def set_scene_timing(scene, fps: float, frame_start: int, frame_count: int) -> None:
    """The scene's frame rate and range follow the clip."""
    scene.render.fps, scene.render.fps_base = scene_fps(fps)
    scene.frame_start = frame_start
    scene.frame_end = frame_start + frame_count - 1


KINDS = ("objects", "actions", "armatures", "cameras", "movieclips")


class SceneGuard:
    """On an exception inside the ``with``, undo what happened to the scene: remove new objects,
    armatures and actions; restore the objects' animation and rotation modes and the scene's
    frame settings. On success it keeps everything."""

    def __init__(self, scene, objects=()):
        self.scene = scene
        self.objects = [o for o in objects if o is not None]

    def __enter__(self):
        data = bpy.data
        self.before = {kind: {i.as_pointer() for i in getattr(data, kind)} for kind in KINDS}
        r = self.scene.render
        self.timing = (r.fps, r.fps_base, self.scene.frame_start, self.scene.frame_end,
                       self.scene.frame_current)
        self.view = (self.scene.camera, r.resolution_x, r.resolution_y, r.resolution_percentage)
        self.anim = {}
        for obj in self.objects:
            anim = obj.animation_data
            slot = getattr(anim, "action_slot", None) if anim else None
            modes = ({pb.name: pb.rotation_mode for pb in obj.pose.bones} if obj.pose else {})
            self.anim[obj.name] = (anim is not None, anim.action if anim else None, slot, modes)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.rollback()
        return False

    def rollback(self) -> None:
        for name, (had, action, slot, modes) in self.anim.items():
            obj = bpy.data.objects.get(name)
            if obj is None:
                continue
            if not had:
                obj.animation_data_clear()
            else:
                obj.animation_data.action = action
                if slot is not None and action is not None:
                    with contextlib.suppress(Exception):
                        obj.animation_data.action_slot = slot
            for bone, mode in modes.items():
                pb = obj.pose.bones.get(bone)
                if pb is not None:
                    pb.rotation_mode = mode
        r = self.scene.render
        self.scene.camera, r.resolution_x, r.resolution_y, r.resolution_percentage = self.view
        for kind in KINDS:                       # objects first: they use the data
            coll = getattr(bpy.data, kind)
            for item in [i for i in coll if i.as_pointer() not in self.before[kind]]:
                coll.remove(item)
        r.fps, r.fps_base, self.scene.frame_start, self.scene.frame_end, frame = self.timing
        self.scene.frame_set(frame)


def create_armature(scene, rig, name: str):
    """A new armature object with ``rig``'s bones (a Rig or a KeyedMotion: ``bone_names``,
    ``parents``, ``rest_heads``, ``rest_tails``, ``rest_rotations``), linked to the scene."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = obj
    with bpy.context.temp_override(active_object=obj, object=obj, selected_objects=[obj]):
        bpy.ops.object.mode_set(mode="EDIT")
        try:
            edit = []
            for b, bone in enumerate(rig.bone_names):
                eb = data.edit_bones.new(bone)
                eb.head = rig.rest_heads[b]
                eb.tail = rig.rest_tails[b]
                eb.align_roll(rig.rest_rotations[b][:, 2])
                edit.append(eb)
            for b, p in enumerate(rig.parents):
                if p >= 0:
                    edit[b].parent = edit[p]
                    edit[b].use_connect = False
        finally:
            bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = previous if previous is not None else obj
    return obj


@dataclass
class Applied:
    """What :func:`apply_result` put into the scene."""

    armature: object
    action: object
    frame_start: int
    frame_end: int
    fps: float
    curves: int
    created_armature: bool
    report: str = ""


def apply_motion(scene, motion: KeyedMotion, name: str, armature=None, frame_start: int = 1,
                 progress: ProgressFn | None = None, empties: bool = False,
                 reference: bool = False, video=None) -> Applied:
    """Write a solved clip into ``scene``: on ``armature`` (the one ``motion`` was solved for)
    or on a new LiftRig armature; one action named ``name``; the scene's fps and range follow
    the clip. ``empties``: the 3D joints as empties too; ``reference``: the solved camera, with
    ``video`` behind it. All or nothing (see :class:`SceneGuard`)."""
    frames = motion.num_frames
    text = motion.report
    with SceneGuard(scene, [armature]):
        created = armature is None
        if created:
            report(progress, "writing keys", 0, None)
            armature = create_armature(scene, motion, f"{name} rig")
        missing = [b for b in motion.keyed if b not in armature.pose.bones]
        if missing:
            raise LiftRigError(f"armature {armature.name!r} lacks the bones "
                               f"{', '.join(missing[:8])} of the rig the clip was solved for")
        scale = 1.0 if created else armature_scale(armature)
        names = list(motion.keyed)
        carriers, partial = effective_parents(armature, names)
        if partial:
            text += ("; these bones follow others only partly (constraint weights) and may be "
                     "off: " + ", ".join(partial))
        rotations = keyed_quaternions(motion, carriers)
        target = new_action(name, "OBJECT", armature.name)
        curves = write_channels(target, frame_start + np.arange(frames),
                                pose_channels(names, rotations, motion.translation_bone,
                                              motion.location / scale),
                                progress, total=4 * len(names) + 3)
        for bone in names:
            armature.pose.bones[bone].rotation_mode = "QUATERNION"
        assign_action(armature, target)
        if empties or reference:
            from .reference import add_joint_empties, add_reference_camera

            if empties:
                add_joint_empties(scene, name, motion.world, frame_start)
            if reference and motion.camera_to_world is not None:
                add_reference_camera(scene, name, motion.camera_to_world, motion.size,
                                     motion.focal_px, video,
                                     frame_start - motion.first_video_frame)
        set_scene_timing(scene, motion.fps, frame_start, frames)
        scene.frame_set(frame_start)
    return Applied(armature, target.action, frame_start, frame_start + frames - 1, motion.fps,
                   curves, created, text)


def lift_to_scene(scene, source, armature=None, bone_map=None, lift_options=None,
                  retarget_options=None, worker_python: str | None = None,
                  frame_start: int = 1, progress: ProgressFn | None = None,
                  empties: bool = False, reference: bool = False) -> Applied:
    """Video or ``.npz`` -> keys on ``armature`` (or a new LiftRig armature) in ``scene``;
    ``empties`` / ``reference`` add the joints as empties / the camera with the video.
    ``retarget_options``: a dict of RetargetOptions' fields (or the object itself)."""
    from ..options import LiftOptions
    from ..pipeline.clips import clip_name
    from ..pipeline.solve import solve_for_blender

    spec = None if armature is None else armature_spec(armature)
    motion = solve_for_blender(source, spec, bone_map, lift_options or LiftOptions(),
                               retarget_options, worker_python, progress)
    return apply_motion(scene, motion, clip_name(source), armature, frame_start, progress,
                        empties, reference, Path(source))


def apply_motion_by_name(scene_name: str, motion: KeyedMotion, name: str,
                         armature_name: str | None = None, frame_start: int = 1,
                         progress: ProgressFn | None = None) -> Applied:
    """:func:`apply_motion` for a job that holds names, not Blender data (the data may have gone
    while it ran): the scene and armature looked up now, the keys written into that scene even
    when the window shows another one by now (a new skeleton needs its view layer)."""
    scene = bpy.data.scenes.get(scene_name)
    if scene is None:
        raise LiftRigError(f"the scene {scene_name!r} is gone")
    armature = None
    if armature_name is not None:
        armature = bpy.data.objects.get(armature_name)
        if armature is None:
            raise LiftRigError(f"the armature {armature_name!r} is gone")
    in_scene = contextlib.nullcontext() if bpy.context.scene == scene else \
        bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0])
    with in_scene:
        return apply_motion(scene, motion, name, armature, frame_start, progress)
