# SPDX-License-Identifier: GPL-3.0-or-later
"""The Human3.6M 17-joint layout shared by every stage (keypoints, lifter, retargeting, training).

Order and names are the field's convention (VideoPose3D, MixSTE, P-STMO). Left and right are the
subject's own.
"""

JOINT_NAMES = (
    "Pelvis",     # 0  mid hips, the root
    "RHip",       # 1
    "RKnee",      # 2
    "RAnkle",     # 3
    "LHip",       # 4
    "LKnee",      # 5
    "LAnkle",     # 6
    "Spine",      # 7  midway pelvis-thorax
    "Thorax",     # 8  mid shoulders
    "Nose",       # 9  "neck/nose" in the datasets
    "HeadTop",    # 10
    "LShoulder",  # 11
    "LElbow",     # 12
    "LWrist",     # 13
    "RShoulder",  # 14
    "RElbow",     # 15
    "RWrist",     # 16
)
NUM_JOINTS = len(JOINT_NAMES)
# JOINT_INDEX["LKnee"] == 5
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

# Parent of each joint in the kinematic tree (-1 for the root); a parent comes before its children.
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

LEFT_JOINTS = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS = (1, 2, 3, 14, 15, 16)

# FLIP_PERMUTATION[j] is the joint that j becomes in a left/right mirrored image.
FLIP_PERMUTATION = tuple(
    RIGHT_JOINTS[LEFT_JOINTS.index(j)] if j in LEFT_JOINTS
    else LEFT_JOINTS[RIGHT_JOINTS.index(j)] if j in RIGHT_JOINTS
    else j
    for j in range(NUM_JOINTS)
)

# (parent, child) pairs: the 16 bones.
BONES = tuple((p, j) for j, p in enumerate(PARENTS) if p >= 0)


def mirror(poses, permutation=FLIP_PERMUTATION):
    """Left/right mirror of poses [..., J, C] (numpy array or torch tensor): x negated, each
    joint relabelled as its mirror image (``permutation``: this layout's, or another's)."""
    out = poses[..., list(permutation), :]   # advanced indexing: a copy, for numpy and torch
    out[..., 0] = -out[..., 0]
    return out


def normalize_screen(keypoints, size: tuple[int, int]):
    """Pixels -> the papers' screen coordinates: x/w*2-1, y/w*2-h/w (aspect kept, x in [-1, 1])."""
    import numpy as np

    w, h = size
    return keypoints / w * 2 - np.array([1.0, h / w])
