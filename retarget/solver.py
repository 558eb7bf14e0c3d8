# SPDX-License-Identifier: GPL-3.0-or-later
"""The bone solver: Human3.6M points of every frame -> each bone's rotation on any rig.

Each driven bone gets, per frame, the rotation (from its rest pose, in armature space) that
turns its aim direction in the rest pose onto the subject's, with the twist about it set by
its pole (:data:`bonemap.TWIST_RULES`). Working with rotations *from the rest pose* makes the
result independent of the rest pose (T-pose, A-pose) and of bone rolls. Local rotations for
Blender and BVH follow from them; the translation bone's location puts the rig's pelvis point
on the subject's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..h36m import JOINT_INDEX as J
from ..h36m import JOINT_NAMES
from .bonemap import BoundRig, evaluate_rig_point, parse_point
from .rig import Rig
from .rotations import (EPS, best_fit_rotation, continuous_quaternions, matrix_from_quat, normalize,
                        quat_from_matrix, rotation_aligning, swing_rotation)


# A limb's bend plane is ill-defined when it is straight: its pole then keeps the axis of the
# frames around it (HINGE_MEMORY, against |sin bend| for the bend itself) and leans on a fallback
# direction only where the clip never shows a bend (HINGE_FALLBACK).
HINGE_MEMORY = 0.3
HINGE_FALLBACK = 0.05

LIMBS = {
    "left-leg": ("LHip", "LKnee", "LAnkle"),
    "right-leg": ("RHip", "RKnee", "RAnkle"),
    "left-arm": ("LShoulder", "LElbow", "LWrist"),
    "right-arm": ("RShoulder", "RElbow", "RWrist"),
}


@dataclass(eq=False)
class RigPose:
    """A solved clip on one rig. Rotations are from the rest pose; see :attr:`rotations`."""

    bound: BoundRig
    world_rotations: np.ndarray   # float64 [F, B, 3, 3]: each bone's rotation from its rest
    #                               orientation, in armature space (posed frame = this @ rest)
    heads: np.ndarray             # float64 [F, B, 3]: posed bone heads, armature space
    translation: np.ndarray       # float64 [F, 3]: how far the translation bone's head moved
    #                               beyond where its parent carries it, armature space

    @property
    def rig(self) -> Rig:
        return self.bound.rig

    @property
    def num_frames(self) -> int:
        return len(self.heads)

    @property
    def rotations(self) -> np.ndarray:
        """float64 [F, B, 4] (w, x, y, z): each bone's rotation in its own rest frame relative to
        its parent, i.e. Blender's ``pose_bone.rotation_quaternion``; no sign flips over time."""
        return continuous_quaternions(quat_from_matrix(local_rotations(self.rig,
                                                                       self.world_rotations)))

    @property
    def location(self) -> np.ndarray:
        """float64 [F, 3]: the translation bone's ``pose_bone.location`` (in its rest frame)."""
        rig, t = self.rig, self.bound.translation_bone
        p = rig.parents[t]
        moved = self.translation if p < 0 else np.einsum(
            "fji,fj->fi", self.world_rotations[:, p], self.translation)
        return moved @ rig.rest_rotations[t]

    def tails(self) -> np.ndarray:
        """Posed bone tails [F, B, 3]."""
        return posed_tails(self.rig, self.world_rotations, self.heads)

    def points(self) -> np.ndarray:
        """The 17 points where the rig carries them [F, 17, 3] (NaN where it has none)."""
        return rig_points(self.bound, self.world_rotations, self.heads)


def local_rotations(rig: Rig, world_rotations: np.ndarray) -> np.ndarray:
    """Rotations from rest in armature space [F, B, 3, 3] -> each bone's rotation in its rest
    frame relative to its parent: R_rest^T D_parent^T D R_rest."""
    rel = world_rotations.copy()
    for b, p in enumerate(rig.parents):
        if p >= 0:
            rel[:, b] = np.swapaxes(world_rotations[:, p], -1, -2) @ world_rotations[:, b]
    rest = rig.rest_rotations
    return np.swapaxes(rest, -1, -2) @ rel @ rest


def world_from_local(rig: Rig, quats: np.ndarray) -> np.ndarray:
    """The inverse of :func:`local_rotations` for quaternions [F, B, 4] (w, x, y, z)."""
    rest = rig.rest_rotations
    rel = rest @ matrix_from_quat(quats) @ np.swapaxes(rest, -1, -2)
    out = rel.copy()
    for b, p in enumerate(rig.parents):
        if p >= 0:
            out[:, b] = out[:, p] @ rel[:, b]
    return out


def forward_kinematics(rig: Rig, world_rotations: np.ndarray, translation_bone: int | None = None,
                       translation: np.ndarray | None = None) -> np.ndarray:
    """Posed heads [F, B, 3]: each bone's head rides on its parent; the translation bone's head
    moves by ``translation`` [F, 3] more."""
    frames = len(world_rotations)
    heads = np.empty((frames, rig.num_bones, 3))
    for b, p in enumerate(rig.parents):
        if p < 0:
            heads[:, b] = rig.rest_heads[b]
        else:
            offset = rig.rest_heads[b] - rig.rest_heads[p]
            heads[:, b] = heads[:, p] + world_rotations[:, p] @ offset
        if b == translation_bone and translation is not None:
            heads[:, b] += translation
    return heads


def posed_tails(rig: Rig, world_rotations: np.ndarray, heads: np.ndarray) -> np.ndarray:
    return heads + np.einsum("fbij,bj->fbi", world_rotations, rig.rest_tails - rig.rest_heads)


def rig_points(bound: BoundRig, world_rotations: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """The 17 points located on the posed rig [F, 17, 3] (NaN for points it has not)."""
    tails = posed_tails(bound.rig, world_rotations, heads)
    out = np.full((len(heads), len(JOINT_NAMES), 3), np.nan)
    for j, expr in enumerate(bound.point_exprs):
        if expr is not None:
            out[:, j] = evaluate_rig_point(expr, bound.rig, heads, tails, world_rotations)
    return out


# ---------------------------------------------------------------------------------------------
# Poles

def limb_hinge(points: np.ndarray, limb: str) -> np.ndarray:
    """Unit hinge axis [F, 3] of a limb (knee or elbow), continuous over time.

    The cross product of the upper and lower limb (its length is the sine of the bend). Where
    the limb is nearly straight the axis carries over from the neighbouring frames: a backward
    pass finds the first bend the clip shows, a forward pass carries each axis on; a fallback
    (the hip line for legs, the arm crossed with the chest's forward for arms) only breaks
    ties. Elbows and knees bend one way, so the twist never flips.
    """
    a, b, c = (points[:, J[n]] for n in LIMBS[limb])
    upper = normalize(b - a)
    bend = np.cross(upper, normalize(c - b))                         # |.| = sin(bend angle)
    if limb.endswith("leg"):
        fallback = normalize(points[:, J["LHip"]] - points[:, J["RHip"]])
    else:
        left = normalize(points[:, J["LShoulder"]] - points[:, J["RShoulder"]])
        up = normalize(points[:, J["Thorax"]] - points[:, J["Spine"]])
        fallback = normalize(np.cross(upper, np.cross(left, up)))   # upper x forward
    raw = bend + HINGE_FALLBACK * fallback
    out = np.empty_like(raw)
    prev = np.zeros(3)
    for frames in (range(len(raw) - 1, -1, -1), range(len(raw))):   # backward, then forward
        for f in frames:
            v = raw[f] + HINGE_MEMORY * prev
            v = v - np.dot(v, upper[f]) * upper[f]
            n = np.linalg.norm(v)
            if n > 1e-12:
                prev = v / n
            out[f] = prev
    return out


# A pelvis point this far off the hip line (a share of the hip width, in the rig's rest pose)
# sets the pelvis's turn about that line; nearer, the spine does (Human3.6M's pelvis is the hips'
# midpoint, so its offset is only noise there).
PELVIS_OFF_LINE = 0.1


def pelvis_pole(points: np.ndarray, off_line: bool) -> np.ndarray:
    """The pole [F, 3] of a pelvis bone aimed along the hip line: the pelvis point's offset from
    that line (``off_line``: a rig whose pelvis lies off it), else the spine's direction."""
    spine = points[:, J["Spine"]] - points[:, J["Pelvis"]]
    if off_line:   # (a trace of the spine only breaks the tie of a pelvis that is on the line)
        middle = 0.5 * (points[:, J["LHip"]] + points[:, J["RHip"]])
        return points[:, J["Pelvis"]] - middle + 1e-4 * spine
    return spine


def pelvis_off_line(rest: np.ndarray) -> bool:
    """Whether a rest pose's pelvis point [1, 17, 3] lies off its hip line (see PELVIS_OFF_LINE)."""
    left, right = rest[0, J["LHip"]], rest[0, J["RHip"]]
    line = left - right
    offset = rest[0, J["Pelvis"]] - 0.5 * (left + right)
    off = offset - np.dot(offset, line) / np.dot(line, line) * line
    return bool(np.linalg.norm(off) > PELVIS_OFF_LINE * np.linalg.norm(line))


def twist_vector(points: np.ndarray, twist: str) -> np.ndarray:
    """The pole [F, 3] of a named twist rule; the bone's frame takes it as its second axis."""
    kind, _, arg = twist.partition(":")
    p = {n: points[:, i] for n, i in J.items()}
    hips = normalize(p["LHip"] - p["RHip"])
    shoulders = normalize(p["LShoulder"] - p["RShoulder"])
    if kind == "hips":
        return hips
    if kind == "pelvis":
        return pelvis_pole(points, off_line=False)
    if kind == "shoulders":
        return shoulders
    if kind == "spine":
        t = float(arg)
        return (1.0 - t) * hips + t * shoulders
    if kind in ("face", "neck"):
        face_left = np.cross(normalize(p["HeadTop"] - p["Nose"]),
                             normalize(p["Nose"] - p["Thorax"]))
        face = normalize(face_left + HINGE_FALLBACK * shoulders)
        return face if kind == "face" else face + shoulders
    if kind == "chest":
        return p["Thorax"] - p["Spine"]
    if kind in LIMBS:
        return limb_hinge(points, kind)
    raise ValueError(f"no pole vector for twist {twist!r}")


# ---------------------------------------------------------------------------------------------
# The solve

def _defines_frame(aim: np.ndarray, pole: np.ndarray) -> np.ndarray:
    """Per frame [F]: whether ``aim`` and ``pole`` [F, 3] span a plane (neither is zero nor are
    they parallel), so that they define a bone's frame."""
    length = np.linalg.norm(aim, axis=-1)
    across = np.linalg.norm(np.cross(aim, pole), axis=-1) / np.maximum(length, EPS)  # |pole ⊥ aim|
    return (length > 10 * EPS) & (across > 10 * EPS)


# An extremity's turn from its rest pose relative to its parent is trusted up to TURN_FULL_DEG
# and not at all from TURN_NONE_DEG on.
TURN_FULL_DEG, TURN_NONE_DEG = 100.0, 140.0


def _turn_extremity(bound: BoundRig, b: int, role: str, parent: np.ndarray,
                    targets) -> np.ndarray:
    """World rotations [F, 3, 3] of bone ``b``, the ``role`` extremity: its target frame from
    MediaPipe's landmarks, eased towards its rest pose relative to its parent (``parent``, the
    parent bone's world rotations) where the landmarks' weight drops."""
    from scipy.spatial.transform import Rotation

    from .extremities import rest_axes

    rig = bound.rig
    rest_aim, rest_pole = rest_axes(role, rig.rest_tails[b] - rig.rest_heads[b])
    target = rotation_aligning(rest_aim, rest_pole, targets.aim[role], targets.pole[role])
    # The rest pose relative to the parent is ``parent``; turn from it towards the target, less
    # where the turn is one no ankle, wrist or neck makes (it eases out from TURN_FULL_DEG to
    # TURN_NONE_DEG): a misread landmark, and near 180 degrees the turn's axis is ill-defined.
    delta = Rotation.from_matrix(np.swapaxes(parent, -1, -2) @ target).as_rotvec()
    angle = np.degrees(np.linalg.norm(delta, axis=-1))
    t = np.clip((TURN_NONE_DEG - angle) / (TURN_NONE_DEG - TURN_FULL_DEG), 0.0, 1.0)
    weight = targets.weight[role] * np.clip(targets.smoothed(t * t * (3.0 - 2.0 * t)), 0, 1)
    return parent @ Rotation.from_rotvec(delta * weight[:, None]).as_matrix()


def solve_pose(bound: BoundRig, points: np.ndarray, extremities=None) -> RigPose:
    """Pose ``bound.rig`` to follow the points [F, 17, 3] (armature space, e.g. LiftRig's world).

    Bones without a rule keep their rest pose relative to their parent. ``extremities``: an
    :class:`.extremities.ExtremityTargets` that turns the map's feet, hands and head.
    """
    points = np.asarray(points, np.float64)
    frames = len(points)
    rig = bound.rig
    rest = bound.rest_points[None]                              # [1, 17, 3]
    pose_poles: dict[str, np.ndarray] = {}
    rest_poles: dict[str, np.ndarray] = {}
    world = np.empty((frames, rig.num_bones, 3, 3))
    identity = np.broadcast_to(np.eye(3), (frames, 3, 3))
    # The map's extremities that have targets (the toes have none without foot locking).
    roles = ({b: role for b, role in bound.extremities if role in extremities.aim}
             if extremities is not None else {})
    for b, p in enumerate(rig.parents):
        parent = world[:, p] if p >= 0 else identity
        r = bound.rules[b]
        if b in roles:
            world[:, b] = _turn_extremity(bound, b, roles[b], parent, extremities)
            continue
        if r is None:
            world[:, b] = parent
            continue
        aim_rest = r.aim[1](rest) - r.aim[0](rest)             # [1, 3]
        aim = r.aim[1](points) - r.aim[0](points)              # [F, 3]
        kind = r.twist_kind
        if kind == "swing":
            carried = parent @ aim_rest[0]
            world[:, b] = swing_rotation(carried, aim) @ parent
        elif kind == "fit":
            targets = [parse_point(n.strip()) for n in r.twist[4:].split(",") if n.strip()]
            rest_vecs = np.stack([aim_rest] + [t(rest) - r.aim[0](rest) for t in targets], -2)
            pose_vecs = np.stack([aim] + [t(points) - r.aim[0](points) for t in targets], -2)
            world[:, b] = best_fit_rotation(normalize(rest_vecs), normalize(pose_vecs))
        else:
            if kind == "pelvis":
                off_line = pelvis_off_line(rest)
                rest_pole, pose_pole = pelvis_pole(rest, off_line), pelvis_pole(points, off_line)
            else:
                if r.twist not in pose_poles:
                    pose_poles[r.twist] = twist_vector(points, r.twist)
                    rest_poles[r.twist] = twist_vector(rest, r.twist)
                rest_pole, pose_pole = rest_poles[r.twist], pose_poles[r.twist]
            world[:, b] = rotation_aligning(aim_rest, rest_pole, aim, pose_pole)
            # Where the points give no frame (two of them coincide, in the pose or at rest: a
            # degenerate body), the bone keeps its rest pose relative to its parent.
            lost = ~_defines_frame(aim, pose_pole) | ~_defines_frame(aim_rest, rest_pole)
            world[lost, b] = parent[lost]
    t = bound.translation_bone
    heads = forward_kinematics(rig, world)
    pelvis_expr = bound.point_exprs[J["Pelvis"]]
    tails = posed_tails(rig, world, heads)
    carried_pelvis = evaluate_rig_point(pelvis_expr, rig, heads, tails, world)
    translation = points[:, J["Pelvis"]] - carried_pelvis
    heads = forward_kinematics(rig, world, t, translation)
    return RigPose(bound=bound, world_rotations=world, heads=heads, translation=translation)
