# SPDX-License-Identifier: GPL-3.0-or-later
"""Motion capture skeletons (Bandai Namco, CMU "cmuconvert") -> the Human3.6M 17 points.

A first version for retargeting's tests (contacts and foot locking on real walking); the
default-model issue refines it for training. Output is in LiftRig's world frame: metres, Z up,
the actor's forward at the file's +Z becomes -Y (Blender's front), the actor's left +X.

Neither skeleton has a nose or a head top, so both are placed from the head joint's own
orientation with :data:`NOSE_IN_HEAD` and :data:`HEADTOP_IN_HEAD`; the retargeting rigs use the
same offsets for their rest poses, so an upright subject maps to an upright head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import LiftRigError
from ..h36m import JOINT_NAMES, NUM_JOINTS
from .bvh import BvhMotion, forward_kinematics, guess_unit_scale

# The ankle joint's height above the floor as a share of the shin, standing (the Bandai actors:
# 0.117 m over a 0.41 m shin).
ANKLE_HEIGHT_PER_SHIN = 0.28

# Nose and head top relative to the head joint (the top of the neck), metres: (up, forward).
NOSE_IN_HEAD = (0.05, 0.08)
HEADTOP_IN_HEAD = (0.17, -0.01)

# BVH files are Y up with the actor facing +Z; LiftRig's world is Z up (Blender): (x, -z, y).
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0],
                         [0.0, 0.0, -1.0],
                         [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class MocapSkeleton:
    """How one mocap skeleton's joints give the 17 points."""

    name: str
    # Each point but Nose and HeadTop: the mean of these joints.
    points: dict[str, tuple[str, ...]]
    head: str            # the joint whose orientation places Nose and HeadTop
    head_up: int         # the head joint's local axis (0 x, 1 y, 2 z) pointing up in the rest pose
    head_forward: int    # ... and forward


BANDAI = MocapSkeleton(
    name="bandai",
    points={
        "Pelvis": ("UpperLeg_L", "UpperLeg_R"),
        "RHip": ("UpperLeg_R",), "RKnee": ("LowerLeg_R",), "RAnkle": ("Foot_R",),
        "LHip": ("UpperLeg_L",), "LKnee": ("LowerLeg_L",), "LAnkle": ("Foot_L",),
        "Spine": ("Spine", "Chest"), "Thorax": ("Neck",),
        "LShoulder": ("UpperArm_L",), "LElbow": ("LowerArm_L",), "LWrist": ("Hand_L",),
        "RShoulder": ("UpperArm_R",), "RElbow": ("LowerArm_R",), "RWrist": ("Hand_R",),
    },
    head="Head", head_up=0, head_forward=1)

CMU = MocapSkeleton(
    name="cmu",
    points={
        "Pelvis": ("lThigh", "rThigh"),
        "RHip": ("rThigh",), "RKnee": ("rShin",), "RAnkle": ("rFoot",),
        "LHip": ("lThigh",), "LKnee": ("lShin",), "LAnkle": ("lFoot",),
        "Spine": ("abdomen", "chest"), "Thorax": ("neck",),
        "LShoulder": ("lShldr",), "LElbow": ("lForeArm",), "LWrist": ("lHand",),
        "RShoulder": ("rShldr",), "RElbow": ("rForeArm",), "RWrist": ("rHand",),
    },
    head="head", head_up=1, head_forward=2)

MOCAP_SKELETONS = (BANDAI, CMU)


def detect_mocap_skeleton(names) -> MocapSkeleton:
    """The known skeleton whose joints ``names`` has; a clear error otherwise."""
    have = set(names)
    for spec in MOCAP_SKELETONS:
        needed = {j for joints in spec.points.values() for j in joints} | {spec.head}
        if needed <= have:
            return spec
    raise LiftRigError("unknown motion capture skeleton: expected the Bandai Namco joints "
                       "(Hips, UpperLeg_L, ...) or the CMU cmuconvert joints (hip, lThigh, ...)")


# Eyes and ears relative to the head joint, metres: (up, forward, towards the actor's left).
# Adult head proportions; they let training synthesise a detector's face landmarks.
EYE_IN_HEAD = (0.08, 0.075, 0.032)
EAR_IN_HEAD = (0.05, -0.005, 0.075)


def mocap_to_h36m(motion: BvhMotion, spec: MocapSkeleton | None = None) -> np.ndarray:
    """The 17 points of every frame: float64 [F, 17, 3], metres, Z up."""
    return mocap_points(motion, spec)[0]


def mocap_points(motion: BvhMotion, spec: MocapSkeleton | None = None,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The 17 Human3.6M points and the COCO-17 body landmarks (nose, eyes, ears, and the limb
    joints) of every frame: two float64 [F, 17, 3], metres, Z up. The COCO set is what a 2D
    detector sees; training projects it to make realistic 2D input."""
    sk = motion.skeleton
    spec = spec or detect_mocap_skeleton(sk.names)
    pose = forward_kinematics(motion, guess_unit_scale(sk))
    pos = pose.positions                                   # [F, J, 3] file axes, metres
    out = np.zeros((motion.num_frames, NUM_JOINTS, 3))
    for name, joints in spec.points.items():
        out[:, JOINT_NAMES.index(name)] = pos[:, [sk.index(j) for j in joints]].mean(axis=1)
    h = sk.index(spec.head)
    up = pose.rotations[:, h, :, spec.head_up]             # [F, 3]
    forward = pose.rotations[:, h, :, spec.head_forward]   # [F, 3]
    left = np.cross(up, forward)                           # right-handed file axes
    for name, (u, f) in (("Nose", NOSE_IN_HEAD), ("HeadTop", HEADTOP_IN_HEAD)):
        out[:, JOINT_NAMES.index(name)] = pos[:, h] + u * up + f * forward

    def head_point(u, f, side):
        return pos[:, h] + u * up + f * forward + side * left

    coco = np.zeros_like(out)
    coco[:, 0] = out[:, JOINT_NAMES.index("Nose")]
    for k, (u, f, side) in ((1, EYE_IN_HEAD), (3, EAR_IN_HEAD)):
        coco[:, k] = head_point(u, f, side)       # left eye / left ear
        coco[:, k + 1] = head_point(u, f, -side)  # right eye / right ear
    for k, name in enumerate(("LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist",
                              "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle"), start=5):
        coco[:, k] = out[:, JOINT_NAMES.index(name)]
    return out @ Y_UP_TO_Z_UP.T, coco @ Y_UP_TO_Z_UP.T
