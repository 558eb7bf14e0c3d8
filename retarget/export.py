# SPDX-License-Identifier: GPL-3.0-or-later
"""A solved rig pose as BVH: one joint per bone, rest offsets from the rig, rotations from the
solve, position channels on the root and on the bone that carries the translation.

BVH is Y up by convention: LiftRig's world (Z up, facing -Y) is written as (x, z, -y), which
Blender's BVH importer (forward -Z, up Y, its defaults) turns back into the same world.
"""

from __future__ import annotations

import numpy as np

from ..errors import LiftRigError
from .bvh import BvhMotion, encode_channels, make_skeleton, write_bvh
from .mocap_map import Y_UP_TO_Z_UP
from .solver import RigPose

Z_UP_TO_Y_UP = Y_UP_TO_Z_UP.T
UNITS = {"m": 1.0, "cm": 100.0}


def pose_to_bvh(pose: RigPose, fps: float, channel_order: str = "ZXY",
                units: str = "cm") -> BvhMotion:
    """The BVH motion of ``pose`` at ``fps``; ``units`` "cm" (the format's usual unit; import
    into Blender with scale 0.01) or "m"."""
    if units not in UNITS:
        raise LiftRigError(f"BVH units must be one of {', '.join(UNITS)}, got {units!r}")
    if not fps > 0:
        raise LiftRigError(f"fps must be positive, got {fps}")
    rig = pose.rig
    scale = UNITS[units]
    c = Z_UP_TO_Y_UP
    offsets = np.array([rig.rest_heads[b] - (rig.rest_heads[p] if p >= 0 else 0.0)
                        for b, p in enumerate(rig.parents)]) @ c.T * scale
    ends = (rig.rest_tails - rig.rest_heads) @ c.T * scale
    t = pose.bound.translation_bone
    moving = {b for b, p in enumerate(rig.parents) if p < 0} | {t}
    skeleton = make_skeleton(rig.bone_names, rig.parents, offsets, ends, channel_order,
                             position_joints=moving)
    world = pose.world_rotations                                         # [F, B, 3, 3]
    local = world.copy()
    translations = np.broadcast_to(offsets, (pose.num_frames,) + offsets.shape).copy()
    for b, p in enumerate(rig.parents):
        if p >= 0:
            parent_t = np.swapaxes(world[:, p], -1, -2)
            local[:, b] = parent_t @ world[:, b]
            if b in moving:
                rel = np.einsum("fij,fj->fi", parent_t, pose.heads[:, b] - pose.heads[:, p])
                translations[:, b] = rel @ c.T * scale
        else:
            translations[:, b] = pose.heads[:, b] @ c.T * scale
    local = c @ local @ c.T                                              # into BVH axes
    values = encode_channels(skeleton, local, translations)
    return BvhMotion(skeleton=skeleton, frame_time=1.0 / fps, values=values)


def write_pose_bvh(path, pose: RigPose, fps: float, channel_order: str = "ZXY",
                   units: str = "cm") -> BvhMotion:
    """Write ``pose`` as a BVH file (atomically) and return what was written."""
    motion = pose_to_bvh(pose, fps, channel_order, units)
    write_bvh(path, motion)
    return motion
