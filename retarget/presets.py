# SPDX-License-Identifier: GPL-3.0-or-later
"""Rig presets: LiftRig's own skeleton (fitted to the subject), Rigify (generated FK controls and
the metarig), Mixamo and the UE5 mannequin, plus detection of a preset from bone names.

Each preset is a bone map and a template skeleton in that rig's naming and rest pose (T-pose
for Mixamo and Rigify, A-pose for UE5), scaled like an average adult. In Blender the real
armature's rest pose replaces the template; the BVH writer uses the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import LiftRigError
from ..h36m import BONES, JOINT_INDEX, JOINT_NAMES, LEFT_JOINTS, PARENTS, RIGHT_JOINTS
from .bonemap import BoneMap, BoundRig, bind, parse_rig_point, rule
from .mocap_map import ANKLE_HEIGHT_PER_SHIN, HEADTOP_IN_HEAD, NOSE_IN_HEAD
from .rig import Rig
from .rotations import frame_from_vectors, normalize

PRESETS = ("builtin", "rigify", "rigify-metarig", "mixamo", "ue5")

# LiftRig's world: Z up, the character faces -Y, its left is +X.
UP = np.array([0.0, 0.0, 1.0])
FORWARD = np.array([0.0, -1.0, 0.0])
LEFT = np.array([1.0, 0.0, 0.0])



# ---------------------------------------------------------------------------------------------
# The canonical body: the 17 points of an average adult standing in a T- or A-pose

def canonical_points(arms: str = "T") -> dict[str, np.ndarray]:
    """Named points (metres) of an upright adult facing -Y on the floor Z=0: the 17 points plus
    the extra landmarks templates need (head joint, balls and tips of the feet, hand tips)."""
    shin, thigh, hip_half = 0.41, 0.39, 0.09
    p: dict[str, np.ndarray] = {}
    pelvis = np.array([0.0, 0.0, ANKLE_HEIGHT_PER_SHIN * shin + shin + thigh])
    p["Pelvis"] = pelvis
    p["Spine"] = pelvis + 0.22 * UP
    p["Thorax"] = pelvis + 0.45 * UP
    p["HeadJoint"] = p["Thorax"] + 0.065 * UP    # top of the neck, where head bones start
    p["Nose"] = p["HeadJoint"] + NOSE_IN_HEAD[0] * UP + NOSE_IN_HEAD[1] * FORWARD
    p["HeadTop"] = p["HeadJoint"] + HEADTOP_IN_HEAD[0] * UP + HEADTOP_IN_HEAD[1] * FORWARD
    angle = {"T": 0.0, "A": np.radians(45.0)}[arms]
    for side, sign in (("L", 1.0), ("R", -1.0)):
        lat = sign * LEFT
        hip = pelvis + hip_half * lat
        p[f"{side}Hip"] = hip
        p[f"{side}Knee"] = hip - thigh * UP
        p[f"{side}Ankle"] = p[f"{side}Knee"] - shin * UP
        p[f"{side}Ball"] = p[f"{side}Ankle"] + 0.13 * FORWARD - 0.09 * UP
        p[f"{side}ToeTip"] = p[f"{side}Ankle"] + 0.19 * FORWARD - 0.10 * UP
        p[f"{side}Clavicle"] = p["Thorax"] + 0.03 * lat - 0.02 * UP + 0.02 * FORWARD
        shoulder = p["Thorax"] + 0.16 * lat - 0.03 * UP
        arm = np.cos(angle) * lat - np.sin(angle) * UP
        p[f"{side}Shoulder"] = shoulder
        p[f"{side}Elbow"] = shoulder + 0.27 * arm
        p[f"{side}Wrist"] = p[f"{side}Elbow"] + 0.25 * arm
        p[f"{side}HandTip"] = p[f"{side}Wrist"] + 0.18 * arm
    p["Root"] = np.zeros(3)
    return p


def _mix(p: dict, a: str, b: str, t: float) -> np.ndarray:
    return (1.0 - t) * p[a] + t * p[b]


# ---------------------------------------------------------------------------------------------
# LiftRig's own skeleton

# One bone per point, named after it, plus one bone per segment that starts where another does
# (the lower back at the pelvis, the clavicles at the thorax), so that every segment turns on
# its own: hip sway against the spine, shrugs against the neck. The ankles, wrists and head top
# are leaves (BVH end sites).
BUILTIN_RULES = (
    ("Pelvis", "RHip", "LHip", "pelvis"),
    ("RHip", "RHip", "RKnee", "right-leg"),
    ("RKnee", "RKnee", "RAnkle", "right-leg"),
    ("LHip", "LHip", "LKnee", "left-leg"),
    ("LKnee", "LKnee", "LAnkle", "left-leg"),
    ("LowerBack", "Pelvis", "Spine", "spine:0.25"),
    ("Spine", "Spine", "Thorax", "shoulders"),
    ("Thorax", "Thorax", "Nose", "neck"),
    ("Nose", "Nose", "HeadTop", "face"),
    ("LClavicle", "Thorax", "LShoulder", "chest"),
    ("RClavicle", "Thorax", "RShoulder", "chest"),
    ("LShoulder", "LShoulder", "LElbow", "left-arm"),
    ("LElbow", "LElbow", "LWrist", "left-arm"),
    ("RShoulder", "RShoulder", "RElbow", "right-arm"),
    ("RElbow", "RElbow", "RWrist", "right-arm"),
)


# The extremities of LiftRig's skeleton: the ankle, toe, wrist and nose bones (extremities.py).
BUILTIN_EXTREMITIES = (("LAnkle", "left-foot"), ("RAnkle", "right-foot"),
                       ("LToe", "left-toe"), ("RToe", "right-toe"),
                       ("LWrist", "left-hand"), ("RWrist", "right-hand"), ("Nose", "head"))


def builtin_bone_map() -> BoneMap:
    return BoneMap(name="builtin", rules=tuple(rule(*r) for r in BUILTIN_RULES),
                   points=tuple((n, parse_rig_point(f"{n}.head")) for n in JOINT_NAMES),
                   extremities=BUILTIN_EXTREMITIES)


def _bone_lengths(points: np.ndarray) -> np.ndarray:
    """Per bone of h36m.BONES: the median length over frames, left and right averaged."""
    lengths = np.array([np.nanmedian(np.linalg.norm(points[:, c] - points[:, p], axis=-1))
                        for p, c in BONES])
    child = [c for _, c in BONES]
    for l, r in zip(LEFT_JOINTS, RIGHT_JOINTS):
        both = 0.5 * (lengths[child.index(l)] + lengths[child.index(r)])
        lengths[child.index(l)] = lengths[child.index(r)] = both
    return lengths


def _median_in_frame(frames: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Median over time of ``vectors`` [F, 3] expressed in ``frames`` [F, 3, 3] (columns)."""
    local = np.einsum("fji,fj->fi", frames, vectors)
    return np.nanmedian(local, axis=0)


def builtin_rig(points: np.ndarray) -> Rig:
    """LiftRig's skeleton fitted to a subject's points [F, 17, 3] (F >= 1): bone lengths are
    medians over the clip, left/right symmetric; the trunk (hips, shoulders, neck, head) keeps
    the subject's median shape; arms out in a T-pose, legs straight, feet on the floor Z=0."""
    points = np.asarray(points, np.float64)
    idx = JOINT_INDEX
    length = dict(zip((c for _, c in BONES), _bone_lengths(points)))
    P = lambda n: points[:, idx[n]]                                     # noqa: E731

    # The chest's shape is measured in a body frame whose columns are (up, left, up x left);
    # the rest pose puts those axes on the world's Z, X and Z x X = +Y.
    thorax_frame = frame_from_vectors(P("Thorax") - P("Spine"), P("LShoulder") - P("RShoulder"))
    to_world = np.stack([UP, LEFT, np.cross(UP, LEFT)], axis=-1)        # [3, 3]

    def midline_offset(a: str, b: str) -> np.ndarray:
        """Median direction a->b in the thorax frame, on the midline, at the fitted length."""
        v = _median_in_frame(thorax_frame, P(b) - P(a))
        v[1] = 0.0
        return to_world @ (normalize(v) * length[idx[b]])

    rest = np.zeros((len(JOINT_NAMES), 3))
    shin = length[idx["LAnkle"]]
    rest[idx["Pelvis"]] = (ANKLE_HEIGHT_PER_SHIN * shin + length[idx["LKnee"]] + shin) * UP
    # The hips: symmetric about their midpoint, which keeps its median offset from the pelvis
    # point in the hips' own frame (columns: the hip line, up, forward), so that the rest pelvis
    # lies on the hip line exactly when the subject's does (Human3.6M's, Bandai's) and off it
    # when it does not (CMU's).
    hip_frame = frame_from_vectors(P("LHip") - P("RHip"), P("Spine") - P("Pelvis"))
    hips_to_world = np.stack([LEFT, UP, FORWARD], axis=-1)             # [3, 3]
    half = 0.5 * np.nanmedian(np.linalg.norm(P("LHip") - P("RHip"), axis=-1))
    middle = _median_in_frame(hip_frame, 0.5 * (P("LHip") + P("RHip")) - P("Pelvis"))
    middle[0] = 0.0
    middle = hips_to_world @ middle
    rest[idx["LHip"]] = rest[idx["Pelvis"]] + middle + half * LEFT
    rest[idx["RHip"]] = rest[idx["Pelvis"]] + middle - half * LEFT
    rest[idx["Spine"]] = rest[idx["Pelvis"]] + length[idx["Spine"]] * UP
    rest[idx["Thorax"]] = rest[idx["Spine"]] + length[idx["Thorax"]] * UP
    lsh = to_world @ _median_in_frame(thorax_frame, P("LShoulder") - P("Thorax"))
    rsh = to_world @ _median_in_frame(thorax_frame, P("RShoulder") - P("Thorax"))
    sh = 0.5 * (lsh + rsh * np.array([-1.0, 1.0, 1.0]))
    sh = normalize(sh) * length[idx["LShoulder"]]
    rest[idx["LShoulder"]] = rest[idx["Thorax"]] + sh
    rest[idx["RShoulder"]] = rest[idx["Thorax"]] + sh * np.array([-1.0, 1.0, 1.0])
    rest[idx["Nose"]] = rest[idx["Thorax"]] + midline_offset("Thorax", "Nose")
    rest[idx["HeadTop"]] = rest[idx["Nose"]] + midline_offset("Nose", "HeadTop")
    for side, sign in (("L", 1.0), ("R", -1.0)):
        chain = ((f"{side}Shoulder", f"{side}Elbow", sign * LEFT),
                 (f"{side}Elbow", f"{side}Wrist", sign * LEFT),
                 (f"{side}Hip", f"{side}Knee", -UP),
                 (f"{side}Knee", f"{side}Ankle", -UP))
        for parent, child, direction in chain:
            rest[idx[child]] = rest[idx[parent]] + length[idx[child]] * direction
    return _builtin_from_rest(rest)


# The segment bones of LiftRig's skeleton: (bone, parent, head point, tail point); the joint
# bones listed here hang from them instead of from their Human3.6M parent.
SEGMENT_BONES = (("LowerBack", "Pelvis", "Pelvis", "Spine"),
                 ("LClavicle", "Spine", "Thorax", "LShoulder"),
                 ("RClavicle", "Spine", "Thorax", "RShoulder"))
SEGMENT_PARENTS = {"Spine": "LowerBack", "LShoulder": "LClavicle", "RShoulder": "RClavicle"}
# The toes: from the ball of the foot (where the ankle bone ends) to the toe tip, so that a foot
# can roll over its planted ball at toe-off while its toes stay on the floor.
TOE_BONES = (("LToe", "LAnkle"), ("RToe", "RAnkle"))
BUILTIN_BONES = (tuple(JOINT_NAMES) + tuple(bone for bone, *_ in SEGMENT_BONES)
                 + tuple(bone for bone, _ in TOE_BONES))


def _builtin_from_rest(rest: np.ndarray) -> Rig:
    """Bones from joint positions: each bone runs to its (first) child; the leaves get short
    tails: the feet forward to the ball, then the toes on to the toe tip, the hands and head top
    along their parent bone. The pelvis bone is short (the lower back runs on to the spine point)."""
    bones, balls = [], {}
    at = {name: rest[j] for j, name in enumerate(JOINT_NAMES)}
    for j, name in enumerate(JOINT_NAMES):
        children = [c for c, p in enumerate(PARENTS) if p == j]
        if name == "Pelvis":
            tail = rest[j] + 0.5 * (at["Spine"] - rest[j])
        elif name == "Thorax":
            tail = at["Nose"]
        elif children:
            tail = rest[children[0]]
        elif name.endswith("Ankle"):
            shin = np.linalg.norm(rest[j] - rest[PARENTS[j]])
            tail = rest[j] + 0.4 * shin * FORWARD - 0.2 * shin * UP
            balls[name] = (tail, tail + 0.15 * shin * FORWARD - 0.02 * shin * UP)
        else:
            tail = rest[j] + 0.5 * (rest[j] - rest[PARENTS[j]])
        parent = SEGMENT_PARENTS.get(name, JOINT_NAMES[PARENTS[j]] if PARENTS[j] >= 0 else None)
        bones.append((name, parent, rest[j], tail))
    bones += [(bone, parent, at[head], at[tail]) for bone, parent, head, tail in SEGMENT_BONES]
    bones += [(bone, parent, *balls[parent]) for bone, parent in TOE_BONES]
    return Rig.from_bones("LiftRig", bones)


def canonical_h36m(arms: str = "T") -> np.ndarray:
    """The canonical body's 17 points [17, 3]."""
    p = canonical_points(arms)
    return np.array([p[n] for n in JOINT_NAMES])


def fit_builtin(points: np.ndarray | None = None) -> BoundRig:
    """LiftRig's skeleton, fitted to ``points`` [F, 17, 3] (the canonical body when None)."""
    pts = canonical_h36m()[None] if points is None else points
    return bind(builtin_rig(pts), builtin_bone_map())


# ---------------------------------------------------------------------------------------------
# Template rigs for the other presets

def _side_bones(fmt, p, parent_of_clavicle, parent_of_thigh, names):
    """Arm and leg bones for both sides; ``names`` maps roles to this rig's names with {s}."""
    out = []
    for side in ("L", "R"):
        n = {k: v.format(s=fmt[side]) for k, v in names.items()}
        out += [
            (n["clavicle"], parent_of_clavicle, p[f"{side}Clavicle"], p[f"{side}Shoulder"]),
            (n["upperarm"], n["clavicle"], p[f"{side}Shoulder"], p[f"{side}Elbow"]),
            (n["forearm"], n["upperarm"], p[f"{side}Elbow"], p[f"{side}Wrist"]),
            (n["hand"], n["forearm"], p[f"{side}Wrist"], p[f"{side}HandTip"]),
            (n["thigh"], parent_of_thigh, p[f"{side}Hip"], p[f"{side}Knee"]),
            (n["shin"], n["thigh"], p[f"{side}Knee"], p[f"{side}Ankle"]),
            (n["foot"], n["shin"], p[f"{side}Ankle"], p[f"{side}Ball"]),
            (n["toe"], n["foot"], p[f"{side}Ball"], p[f"{side}ToeTip"]),
        ]
    return out


def _side_rules(fmt, names) -> list:
    out = []
    for side, full in (("L", "left"), ("R", "right")):
        n = {k: v.format(s=fmt[side]) for k, v in names.items()}
        s = side
        out += [
            rule(n["clavicle"], "Thorax", f"{s}Shoulder", "chest"),
            rule(n["upperarm"], f"{s}Shoulder", f"{s}Elbow", f"{full}-arm"),
            rule(n["forearm"], f"{s}Elbow", f"{s}Wrist", f"{full}-arm"),
            rule(n["thigh"], f"{s}Hip", f"{s}Knee", f"{full}-leg"),
            rule(n["shin"], f"{s}Knee", f"{s}Ankle", f"{full}-leg"),
        ]
    return out


def _extremity_bones(fmt, names, head: str) -> tuple:
    """(bone, role) of the feet, toes, hands and head of a preset rig."""
    out = []
    for side, full in (("L", "left"), ("R", "right")):
        out += [(names["foot"].format(s=fmt[side]), f"{full}-foot"),
                (names["toe"].format(s=fmt[side]), f"{full}-toe"),
                (names["hand"].format(s=fmt[side]), f"{full}-hand")]
    return tuple(out) + ((head, "head"),)


def _points(**exprs) -> tuple:
    return tuple((name, parse_rig_point(text)) for name, text in exprs.items())


def mixamo_preset(prefix: str = "mixamorig:") -> tuple[Rig, BoneMap]:
    p = canonical_points("T")
    q = lambda name: prefix + name                                      # noqa: E731
    names = dict(clavicle=q("{s}Shoulder"), upperarm=q("{s}Arm"), forearm=q("{s}ForeArm"),
                 hand=q("{s}Hand"), thigh=q("{s}UpLeg"), shin=q("{s}Leg"), foot=q("{s}Foot"),
                 toe=q("{s}ToeBase"))
    fmt = {"L": "Left", "R": "Right"}
    hips = p["Pelvis"] + 0.03 * UP
    bones = [
        (q("Hips"), None, hips, _mix(p, "Pelvis", "Thorax", 0.25)),
        (q("Spine"), q("Hips"), _mix(p, "Pelvis", "Thorax", 0.25), _mix(p, "Pelvis", "Thorax", 0.5)),
        (q("Spine1"), q("Spine"), _mix(p, "Pelvis", "Thorax", 0.5), _mix(p, "Pelvis", "Thorax", 0.75)),
        (q("Spine2"), q("Spine1"), _mix(p, "Pelvis", "Thorax", 0.75), p["Thorax"]),
        (q("Neck"), q("Spine2"), p["Thorax"], p["HeadJoint"]),
        (q("Head"), q("Neck"), p["HeadJoint"], p["HeadTop"]),
    ] + _side_bones(fmt, p, q("Spine2"), q("Hips"), names)
    rules = [
        rule(q("Hips"), "RHip", "LHip", "pelvis"),
        rule(q("Spine"), "Pelvis", "Spine", "spine:0.25"),
        rule(q("Spine1"), "Spine", "Thorax", "spine:0.6"),
        rule(q("Spine2"), "Spine", "Thorax", "shoulders"),
        rule(q("Neck"), "Thorax", "Nose", "neck"),
        rule(q("Head"), "Nose", "HeadTop", "face"),
    ] + _side_rules(fmt, names)
    bone_map = BoneMap("mixamo", tuple(rules), _points(
        Pelvis=f"0.5*{q('LeftUpLeg')}.head + 0.5*{q('RightUpLeg')}.head",
        Thorax=f"{q('Neck')}.head"), extremities=_extremity_bones(fmt, names, q("Head")))
    return Rig.from_bones("mixamo", bones), bone_map


def ue5_preset() -> tuple[Rig, BoneMap]:
    p = canonical_points("A")
    names = dict(clavicle="clavicle_{s}", upperarm="upperarm_{s}", forearm="lowerarm_{s}",
                 hand="hand_{s}", thigh="thigh_{s}", shin="calf_{s}", foot="foot_{s}",
                 toe="ball_{s}")
    fmt = {"L": "l", "R": "r"}
    spine = [_mix(p, "Pelvis", "Thorax", t) for t in (0.1, 0.3, 0.5, 0.7, 0.85, 1.0)]
    bones = [("root", None, p["Root"], p["Root"] + 0.2 * -FORWARD),
             ("pelvis", "root", p["Pelvis"], spine[0])]
    parent = "pelvis"
    for i in range(5):
        bones.append((f"spine_0{i + 1}", parent, spine[i], spine[i + 1]))
        parent = f"spine_0{i + 1}"
    neck_mid = _mix(p, "Thorax", "HeadJoint", 0.5)
    bones += [("neck_01", "spine_05", p["Thorax"], neck_mid),
              ("neck_02", "neck_01", neck_mid, p["HeadJoint"]),
              ("head", "neck_02", p["HeadJoint"], p["HeadTop"])]
    bones += _side_bones(fmt, p, "spine_05", "pelvis", names)
    rules = [rule("pelvis", "RHip", "LHip", "pelvis"),
             rule("spine_01", "Pelvis", "Spine", "spine:0.1"),
             rule("spine_02", "Pelvis", "Spine", "spine:0.3"),
             rule("spine_03", "Spine", "Thorax", "spine:0.5"),
             rule("spine_04", "Spine", "Thorax", "spine:0.75"),
             rule("spine_05", "Spine", "Thorax", "shoulders"),
             rule("neck_01", "Thorax", "Nose", "neck"),
             rule("neck_02", "Thorax", "Nose", "neck"),
             rule("head", "Nose", "HeadTop", "face")] + _side_rules(fmt, names)
    bone_map = BoneMap("ue5", tuple(rules), _points(
        Pelvis="0.5*thigh_l.head + 0.5*thigh_r.head", Thorax="neck_01.head"),
        extremities=_extremity_bones(fmt, names, "head"))
    return Rig.from_bones("ue5", bones), bone_map


def rigify_preset() -> tuple[Rig, BoneMap]:
    """The generated Rigify rig's FK controls (the MCH/ORG/DEF bones are Rigify's business)."""
    p = canonical_points("T")
    names = dict(clavicle="shoulder.{s}", upperarm="upper_arm_fk.{s}",
                 forearm="forearm_fk.{s}", hand="hand_fk.{s}", thigh="thigh_fk.{s}",
                 shin="shin_fk.{s}", foot="foot_fk.{s}", toe="toe_fk.{s}")
    fmt = {"L": "L", "R": "R"}
    pivot = _mix(p, "Pelvis", "Thorax", 0.3)
    bones = [("root", None, p["Root"], p["Root"] - 0.5 * FORWARD),
             ("torso", "root", pivot, pivot - 0.3 * FORWARD),
             ("hips", "torso", pivot, p["Pelvis"]),
             ("chest", "torso", pivot, _mix(p, "Pelvis", "Thorax", 0.8)),
             ("neck", "chest", p["Thorax"], p["HeadJoint"]),
             ("head", "neck", p["HeadJoint"], p["HeadTop"])]
    bones += _side_bones(fmt, p, "chest", "hips", names)
    rules = [rule("hips", "RHip", "LHip", "pelvis"),
             rule("chest", "Spine", "Thorax", "shoulders"),
             rule("neck", "Thorax", "Nose", "neck"),
             rule("head", "Nose", "HeadTop", "face")] + _side_rules(fmt, names)
    bone_map = BoneMap("rigify", tuple(rules), _points(
        Pelvis="0.5*thigh_fk.L.head + 0.5*thigh_fk.R.head", Thorax="neck.head"),
        translation_bone="torso", extremities=_extremity_bones(fmt, names, "head"))
    return Rig.from_bones("rigify", bones), bone_map


def rigify_metarig_preset() -> tuple[Rig, BoneMap]:
    """Rigify's human metarig (spine, spine.001 ... spine.006, thigh.L, ...)."""
    p = canonical_points("T")
    names = dict(clavicle="shoulder.{s}", upperarm="upper_arm.{s}", forearm="forearm.{s}",
                 hand="hand.{s}", thigh="thigh.{s}", shin="shin.{s}", foot="foot.{s}",
                 toe="toe.{s}")
    fmt = {"L": "L", "R": "R"}
    chain = [p["Pelvis"] + 0.03 * UP] + [_mix(p, "Pelvis", "Thorax", t)
                                         for t in (0.25, 0.5, 0.75, 1.0)]
    chain += [_mix(p, "Thorax", "HeadJoint", 0.5), p["HeadJoint"], p["HeadTop"]]
    names_spine = ["spine"] + [f"spine.00{i}" for i in range(1, 7)]
    bones = []
    for i, name in enumerate(names_spine):
        bones.append((name, names_spine[i - 1] if i else None, chain[i], chain[i + 1]))
    bones += _side_bones(fmt, p, "spine.003", "spine", names)
    rules = [rule("spine", "RHip", "LHip", "pelvis"),
             rule("spine.001", "Pelvis", "Spine", "spine:0.25"),
             rule("spine.002", "Spine", "Thorax", "spine:0.6"),
             rule("spine.003", "Spine", "Thorax", "shoulders"),
             rule("spine.004", "Thorax", "Nose", "neck"),
             rule("spine.005", "Thorax", "Nose", "neck"),
             rule("spine.006", "Nose", "HeadTop", "face")] + _side_rules(fmt, names)
    bone_map = BoneMap("rigify-metarig", tuple(rules), _points(
        Pelvis="0.5*thigh.L.head + 0.5*thigh.R.head", Thorax="spine.004.head"),
        extremities=_extremity_bones(fmt, names, "spine.006"))
    return Rig.from_bones("rigify-metarig", bones), bone_map


def preset(name: str, points: np.ndarray | None = None) -> BoundRig:
    """A preset's template rig with its bone map, checked. ``builtin`` is fitted to ``points``
    [F, 17, 3] when given."""
    if name == "builtin":
        return fit_builtin(points)
    makers = {"rigify": rigify_preset, "rigify-metarig": rigify_metarig_preset,
              "mixamo": mixamo_preset, "ue5": ue5_preset}
    if name not in makers:
        raise LiftRigError(f"unknown rig preset {name!r}; use one of {', '.join(PRESETS)} "
                           "or a JSON bone map")
    return bind(*makers[name]())


def preset_bone_map(name: str) -> BoneMap:
    """Only the bone map of a preset (to apply to a real armature with those bone names)."""
    if name == "builtin":
        return builtin_bone_map()
    return preset(name).bone_map


# ---------------------------------------------------------------------------------------------
# Detection

@dataclass(frozen=True)
class PresetMatch:
    """The preset whose bone names a rig has, and what did not match."""

    preset: str
    bone_map: BoneMap            # restricted to the bones the rig has, prefix applied
    missing: tuple[str, ...]     # the preset's driven bones the rig lacks
    score: float                 # the share of the preset's driven bones found

    def report(self) -> str:
        text = f"rig recognised as {self.preset} ({self.score:.0%} of its driven bones found)"
        if self.missing:
            text += "; missing, so not driven: " + ", ".join(self.missing)
        return text


def detect_preset(bone_names) -> PresetMatch:
    """Recognise a preset from a rig's bone names (Mixamo with any ``mixamorig*:`` prefix).

    Raises :class:`LiftRigError` listing the best candidate's missing bones when no preset
    matches well enough (at least 80 % of its driven bones, the pelvis among them).
    """
    names = set(bone_names)
    candidates = []
    for name in PRESETS:
        if name == "mixamo":
            # Mixamo rigs come as "mixamorig:Hips", "mixamorig1:Hips", or without a prefix.
            prefixes = {m.group(1) for b in names for m in [re.match(r"^(.*?)Hips$", b)] if m}
            candidates += [(name, mixamo_preset(prefix)[1]) for prefix in sorted(prefixes)]
        else:
            candidates.append((name, preset_bone_map(name)))
    best = None
    for name, bone_map in candidates:
        found = [b for b in bone_map.bones if b in names]
        score = len(found) / len(bone_map.bones)
        if best is None or score > best[2]:
            best = (name, bone_map, score)
    name, bone_map, score = best
    missing = tuple(b for b in bone_map.bones if b not in names)
    hips = bone_map.pelvis_bones[0]
    if score < 0.8 or hips in missing:
        raise LiftRigError(
            f"the rig matches no preset: the closest, {name}, lacks {', '.join(missing[:10])}"
            f"{' ...' if len(missing) > 10 else ''}. Give a JSON bone map for this rig.")
    kept = tuple(r for r in bone_map.rules if r.bone in names)
    points = tuple((n, e) for n, e in bone_map.points if all(b in names for b in e.bones))
    extremities = tuple((b, role) for b, role in bone_map.extremities if b in names)
    restricted = BoneMap(bone_map.name, kept, points, bone_map.translation_bone, extremities)
    return PresetMatch(preset=name, bone_map=restricted, missing=missing, score=score)

