# SPDX-License-Identifier: GPL-3.0-or-later
"""What passes between the solve and Blender, in numpy only (Blender's Python has no scipy).

:class:`ArmatureSpec` is an armature's rest pose as Blender gives it; :class:`KeyedMotion` is a
solved clip reduced to what keying needs: each keyed bone's rotation from its rest in world
space, the root's location and the points. Both pickle without importing the solver, so a worker
process can hand them to Blender.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ArmatureSpec:
    """An armature's rest pose in world space: bones in any order, parents by name (None for a
    root), ``Bone.matrix_local`` with the object's transform applied and its scale divided out
    [B, 4, 4], lengths in world units [B]."""

    name: str
    bone_names: tuple[str, ...]
    parent_names: tuple[str | None, ...]
    matrices: np.ndarray
    lengths: np.ndarray


@dataclass
class SolveRun:
    """How a solve ran, beside what it found: the lifter's device when it lifted the clip, the
    joints cache file it used and whether that file had the joints."""

    device: str = ""
    joints_cache: str = ""
    cache_hit: bool = False


@dataclass
class KeyedMotion:
    """A solved clip for Blender. ``keyed`` bones get ``rotation_quaternion`` keys; the
    ``translation_bone`` (one of them) also gets ``location`` keys."""

    rig_name: str
    bone_names: tuple[str, ...]      # every bone of the rig, parents first
    parents: tuple[int, ...]         # -1 for a root
    rest_heads: np.ndarray           # [B, 3] world
    rest_tails: np.ndarray           # [B, 3]
    rest_rotations: np.ndarray       # [B, 3, 3] bone frames (columns X, Y along the bone, Z)
    keyed: tuple[str, ...]
    world_rotations: np.ndarray      # [F, K, 3, 3]: each keyed bone's rotation from rest, world
    heads: np.ndarray                # [F, K, 3]: where the solve puts each keyed bone's head
    translation_bone: str
    location: np.ndarray             # [F, 3]: its pose_bone.location in world units
    fps: float
    world: np.ndarray                # [F, 17, 3]: the points the rig follows (metres, Z up)
    camera_to_world: np.ndarray | None = None   # [4, 4] OpenCV camera axes, when solved
    size: tuple[int, int] = (0, 0)   # the video's frame size in pixels
    focal_px: float = 0.0            # the camera's focal length in pixels
    first_video_frame: int = 0
    report: str = ""                 # how the rig was bound to the joints
    run: SolveRun = field(default_factory=SolveRun)

    @property
    def num_frames(self) -> int:
        return len(self.location)


def quaternions_from_matrices(m: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] -> unit quaternions [..., 4] (w, x, y, z), w >= 0.

    Each row of ``rows`` is the quaternion times 4 of one of its components; the row with the
    largest such component is the best conditioned (Shepperd's method).
    """
    m = np.asarray(m, np.float64)
    a, b, c = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    zy, yz, xz, zx, yx, xy = (m[..., 2, 1], m[..., 1, 2], m[..., 0, 2], m[..., 2, 0],
                              m[..., 1, 0], m[..., 0, 1])
    rows = np.stack([np.stack([1 + a + b + c, zy - yz, xz - zx, yx - xy], -1),
                     np.stack([zy - yz, 1 + a - b - c, xy + yx, xz + zx], -1),
                     np.stack([xz - zx, xy + yx, 1 - a + b - c, yz + zy], -1),
                     np.stack([yx - xy, xz + zx, yz + zy, 1 - a - b + c], -1)], -2)
    best = np.argmax(np.diagonal(rows, axis1=-2, axis2=-1), axis=-1)
    q = np.take_along_axis(rows, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return q * np.where(q[..., :1] < 0, -1.0, 1.0)


def sign_continuous(quats: np.ndarray) -> np.ndarray:
    """Flip signs along time (axis 0) so no channel jumps from q to -q between frames."""
    q = np.array(quats, np.float64, copy=True)
    if len(q) < 2:
        return q
    flips = np.sum(q[1:] * q[:-1], axis=-1) < 0                    # [F-1, ...]
    sign = np.concatenate([np.ones_like(flips[:1], float),
                           np.cumprod(np.where(flips, -1.0, 1.0), axis=0)], axis=0)
    return q * sign[..., None]


def keyed_quaternions(motion: KeyedMotion, carriers: dict) -> np.ndarray:
    """``rotation_quaternion`` values [F, K, 4] of the keyed bones, each relative to the keyed
    bone that really carries it in Blender (``carriers``: bone -> bone or None), in its own
    rest frame: R_rest^T D_carrier^T D R_rest."""
    index = {name: k for k, name in enumerate(motion.keyed)}
    bone_index = {name: b for b, name in enumerate(motion.bone_names)}
    out = np.empty(motion.world_rotations.shape[:2] + (3, 3))
    for k, name in enumerate(motion.keyed):
        rel = motion.world_rotations[:, k]
        carrier = carriers.get(name)
        if carrier is not None:
            rel = np.swapaxes(motion.world_rotations[:, index[carrier]], -1, -2) @ rel
        rest = motion.rest_rotations[bone_index[name]]
        out[:, k] = rest.T @ rel @ rest
    return sign_continuous(quaternions_from_matrices(out))
