# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared pieces of the Blender tests: a real walk filmed by a virtual camera and saved as the
joints file `liftrig lift` writes, a tiny random lifter, preset armatures built in Blender."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WALK_FRAMES = 90


def walk_world(bandai_walk, frames: int = WALK_FRAMES) -> np.ndarray:
    """Human3.6M points [F, 17, 3] (metres, Z up) of a real captured walk."""
    from liftrig.retarget.bvh import read_bvh
    from liftrig.retarget.mocap_map import mocap_to_h36m

    return mocap_to_h36m(read_bvh(bandai_walk))[:frames]


def save_walk_clip(path: Path, bandai_walk, film, fps: float = 30.0, joints: bool = True) -> Path:
    """The walk as a keypoints file (with ``joints3d`` unless ``joints`` is False)."""
    kp, rel, *_ = film(walk_world(bandai_walk), fps, position=(0.5, -7.0, 1.4),
                       target=(0.0, 0.0, 1.0))
    if joints:
        kp.save(path, joints3d=rel.astype(np.float32))
    else:
        kp.save(path)
    return path


def tiny_lifter(path: Path) -> Path:
    """A small randomly initialised MixSTE saved as LiftRig weights (real loading and inference;
    the motion it gives is not what the Blender tests judge)."""
    import torch

    from liftrig.lifter.checkpoints import save_safetensors
    from liftrig.lifter.models.mixste import MixSTE

    torch.manual_seed(0)
    model = MixSTE(num_frames=27, dim=32, depth=2, num_heads=4).eval()
    save_safetensors(path, model, "mixste", {"num_frames": 27, "dim": 32, "depth": 2,
                                             "num_heads": 4}, fps=30.0)
    return path


def preset_armature(scene, name: str = "mixamo", yup_cm: bool = False):
    """A Blender armature with a preset's template bones. ``yup_cm``: stored as a Mixamo FBX
    import is (armature space Y up in centimetres, object rotated 90 degrees about X, scale
    0.01), so that the world rest pose is the template's."""
    from liftrig.addon.animation import create_armature
    from liftrig.retarget.presets import preset
    from liftrig.retarget.rig import Rig

    rig = preset(name).rig
    if yup_cm:
        to_armature = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float)   # world -> Y up
        rig = Rig(rig.name, rig.bone_names, rig.parents, rig.rest_heads @ to_armature.T * 100,
                  rig.rest_tails @ to_armature.T * 100, to_armature @ rig.rest_rotations)
    obj = create_armature(scene, rig, name)
    if yup_cm:
        import math

        obj.rotation_euler = (math.pi / 2, 0.0, 0.0)
        obj.scale = (0.01, 0.01, 0.01)
        import bpy

        bpy.context.view_layer.update()
    return obj


def stick_armature(scene, name: str = "stick"):
    """A two-bone armature (``root``, ``tip``) that matches no preset, active in ``scene``."""
    import bpy

    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, z in (("root", 0.0), ("tip", 1.0)):
        bone = data.edit_bones.new(bone_name)
        bone.head, bone.tail = (0, 0, z), (0, 0, z + 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def world_heads(obj, bone_names) -> np.ndarray:
    """Posed bone heads [B, 3] in world space at the current frame."""
    m = np.array(obj.matrix_world)
    heads = np.array([np.append(np.array(obj.pose.bones[n].head), 1.0) for n in bone_names])
    return (heads @ m.T)[:, :3]


def scene_state(bpy) -> dict:
    """What a failed run must leave as it was."""
    scene = bpy.context.scene
    return {"objects": sorted(o.name for o in bpy.data.objects),
            "actions": sorted(a.name for a in bpy.data.actions),
            "armatures": sorted(a.name for a in bpy.data.armatures),
            "fps": (scene.render.fps, round(scene.render.fps_base, 6)),
            "range": (scene.frame_start, scene.frame_end, scene.frame_current),
            "assigned": {o.name: (o.animation_data.action.name if o.animation_data
                                  and o.animation_data.action else None)
                         for o in bpy.data.objects},
            "modes": {o.name: sorted({p.rotation_mode for p in o.pose.bones})
                      for o in bpy.data.objects if o.pose}}
