# SPDX-License-Identifier: GPL-3.0-or-later
"""HumanEva-I in the common preprocessed layout (VideoPose3D's ``prepare_data_humaneva.py``), validated,
as camera-space sequences in the HumanEva-15 joint layout.

Files in one folder:
  ``data_3d_humaneva15.npz``: key ``positions_3d``: subject -> action -> float32 [N, 15, 3], world
  coordinates in metres (the motion capture divided by 1000). Subjects are ``Train/S1`` ..
  ``Train/S3`` and ``Validate/S1`` .. ``Validate/S3``; actions are the original takes cut where the
  motion capture drops out, e.g. ``Walking 1 chunk0``, ``Jog 1 chunk0``, ``Box 1 chunk1``,
  ``ThrowCatch 1 chunk0``, ``Gestures 1 chunk0``.
  ``data_2d_humaneva15_<source>.npz``: key ``positions_2d``: subject -> action -> list of 3 arrays
  [M >= N, 15, 2] (pixels of the 640 x 480 colour cameras C1, C2, C3; ``None`` where a camera has no
  detections); key ``metadata`` (``layout_name`` ``humaneva15``, ``num_joints`` 15,
  ``keypoints_symmetry`` [[2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]]). Only the ground-truth 2D
  (``gt``) is in the 15-joint layout; VideoPose3D's detections (``detectron_pt_coco``) are COCO-17
  and would need a network with different input and output joints, which LiftRig does not train.

The 3D is in world coordinates, so as in VideoPose3D every sequence is moved into each camera's
axes with the camera's extrinsics (orientation quaternion, centre), then made root-relative (joint 0,
the pelvis). HumanEva's extrinsics are public numbers that VideoPose3D hard-codes (the same for
every split of a subject; VideoPose3D lists S3's equal to S1's, and so does this table). The 2D is
normalised by the image size like Human3.6M's (x / w * 2 - 1, y / w * 2 - h / w).

The papers' protocol (VideoPose3D, followed by MixSTE): train on ``Train/S1..S3``, test on
``Validate/S1..S3``, both restricted to the actions Walk, Jog and Box (matched as prefixes of the
action names, as VideoPose3D's ``-a Walk,Jog,Box`` does), and report P-MPJPE per action and
subject (``--by-subject``). The capture rate is 60 fps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import LiftRigError
from ...h36m import normalize_screen
from .cameras import quat_rotate
from .h36m import Sequence
from .npz import check_metadata, check_subject, check_view, read_dict

NUM_JOINTS = 15
# Pelvis, Thorax, LShoulder, LElbow, LWrist, RShoulder, RElbow, RWrist, LHip, LKnee, LAnkle,
# RHip, RKnee, RAnkle, Head (VideoPose3D's humaneva15 skeleton).
JOINT_NAMES = ("Pelvis", "Thorax", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow",
               "RWrist", "LHip", "LKnee", "LAnkle", "RHip", "RKnee", "RAnkle", "Head")
PARENTS = (-1, 0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 0, 11, 12, 1)
LEFT_JOINTS = (2, 3, 4, 8, 9, 10)
RIGHT_JOINTS = (5, 6, 7, 11, 12, 13)
FLIP_PERMUTATION = tuple(
    RIGHT_JOINTS[LEFT_JOINTS.index(j)] if j in LEFT_JOINTS
    else LEFT_JOINTS[RIGHT_JOINTS.index(j)] if j in RIGHT_JOINTS else j
    for j in range(NUM_JOINTS))
# MixSTE's per-joint loss weights carried over to the same body parts of this layout (MixSTE
# publishes weights only for Human3.6M-17): trunk 1, shoulders 1.5, elbows and wrists 4, knees and
# ankles 2.5, head 1.
MIXSTE_JOINT_WEIGHTS = (1, 1, 1.5, 4, 4, 1.5, 4, 4, 1, 2.5, 2.5, 1, 2.5, 2.5, 1)

FPS = 60.0
RESOLUTION = (640, 480)
CAMERA_IDS = ("C1", "C2", "C3")
TRAIN_SUBJECTS = ("Train/S1", "Train/S2", "Train/S3")
TEST_SUBJECTS = ("Validate/S1", "Validate/S2", "Validate/S3")
TEST_ACTIONS = ("Walk", "Jog", "Box")

# subject -> three (orientation quaternion w, x, y, z rotating camera axes into world axes;
# camera centre in world millimetres), cameras C1, C2, C3.
EXTRINSICS = {
    "S1": (((0.424207, -0.4983646, -0.5802981, 0.4847012), (4062.227, 663.2477, 1528.397)),
           ((0.6503354, -0.7481602, -0.0919284, 0.0941766), (844.8131, -3805.2092, 1504.9929)),
           ((0.0664734, -0.0690535, 0.7416416, -0.6639132), (-797.67377, 3916.3174, 1433.6602))),
    "S2": (((0.4214752, -0.4961493, -0.5838273, 0.4851187), (4112.9121, 626.4929, 1545.2988)),
           ((0.6501393, -0.7476588, -0.0954617, 0.0959808), (923.5740, -3877.9243, 1504.5518)),
           ((0.0699353, -0.0712403, 0.7421637, -0.662742), (-781.4915, 3838.8853, 1444.9929))),
    "S3": (((0.424207, -0.4983646, -0.5802981, 0.4847012), (4062.2271, 663.2477, 1528.3970)),
           ((0.6503354, -0.7481602, -0.0919284, 0.0941766), (844.8131, -3805.2092, 1504.9929)),
           ((0.0664734, -0.0690535, 0.7416416, -0.6639132), (-797.6738, 3916.3174, 1433.6602))),
}

LAYOUT = "VideoPose3D's HumanEva-I layout (15 joints)"
HELP = ("Prepare it with VideoPose3D's data/prepare_data_humaneva.py (--convert-3d writes both "
        "data_3d_humaneva15.npz and data_2d_humaneva15_gt.npz) and pass its folder with --data.")


@dataclass
class GroupedSequence(Sequence):
    """A :class:`Sequence` that names its evaluation group (table column) and, optionally, the
    frames that count in the evaluation."""

    group: str | None = None
    valid: np.ndarray | None = None  # bool [N]; None = every frame


def base_subject(subject: str) -> str:
    """``Validate/S2`` -> ``S2``."""
    return subject.rsplit("/", 1)[-1]


def action_group(subject: str, action: str) -> str:
    """The papers' table column: ``Walking 1 chunk0`` of ``Validate/S1`` -> ``Walk S1``."""
    base = action.split(" ")[0]
    short = {"Walking": "Walk"}.get(base, base)
    return f"{short} {base_subject(subject)}"


def _camera_space(world: np.ndarray, subject: str, cam: int) -> np.ndarray:
    q, centre = EXTRINSICS[base_subject(subject)][cam]
    q = np.asarray(q, np.float64)
    inverse = np.concatenate([q[:1], -q[1:]])
    return quat_rotate(inverse, world - np.asarray(centre, np.float64) / 1000.0)


def camera_to_world(points: np.ndarray, subject: str, cam: int) -> np.ndarray:
    """The inverse of the loader's world -> camera move (for tests and tools)."""
    q, centre = EXTRINSICS[base_subject(subject)][cam]
    return quat_rotate(np.asarray(q, np.float64), np.asarray(points, np.float64)) + \
        np.asarray(centre, np.float64) / 1000.0


def _wanted(action: str, actions) -> bool:
    return not actions or any(action.startswith(a) for a in actions)


def load_humaneva(root, source: str, subjects, actions=(), with_3d: bool = True) -> list[GroupedSequence]:
    """Read and validate ``subjects`` (e.g. ``Train/S1``) of HumanEva-I in folder ``root``, keeping
    the actions that start with one of ``actions`` (all when empty).

    Returns one :class:`GroupedSequence` per (subject, action, camera), sorted: 2D normalised
    [N, 15, 2], 3D [N, 15, 3] in metres in the camera's axes with the pelvis at the origin. Missing
    files, keys, subjects or cameras and wrong shapes raise a :class:`LiftRigError` naming them.
    """
    root = Path(root)
    if not root.is_dir():
        raise LiftRigError(f"HumanEva-I folder not found: {root}. {HELP}")
    path3d, path2d = root / "data_3d_humaneva15.npz", root / f"data_2d_humaneva15_{source}.npz"
    pos3d, _ = read_dict(path3d, "positions_3d", LAYOUT, HELP)
    pos2d, entries2d = read_dict(path2d, "positions_2d", LAYOUT, HELP)
    check_metadata(path2d, entries2d, NUM_JOINTS, LEFT_JOINTS, RIGHT_JOINTS, LAYOUT,
                   "Use the gt 2D file (VideoPose3D's detections are COCO-17).")

    sequences = []
    for subject in subjects:
        if base_subject(subject) not in EXTRINSICS or "/" not in subject:
            raise LiftRigError(f"subject {subject!r} is not a HumanEva-I subject with cameras: use "
                               f"{', '.join(TRAIN_SUBJECTS + TEST_SUBJECTS)}.")
        check_subject(subject, ((path3d, pos3d), (path2d, pos2d)))
        chosen = [a for a in sorted(pos3d[subject]) if _wanted(a, actions)]
        if not chosen:
            raise LiftRigError(f"{path3d.name}: {subject} has no action starting with "
                               f"{', '.join(actions)} (it has {', '.join(sorted(pos3d[subject]))}).")
        for action in chosen:
            world = np.asarray(pos3d[subject][action])
            where3d = f"{path3d.name}: positions_3d[{subject!r}][{action!r}]"
            if world.ndim != 3 or world.shape[1:] != (NUM_JOINTS, 3) or len(world) == 0:
                raise LiftRigError(f"{where3d} has shape {list(world.shape)}, expected "
                                   f"[N, {NUM_JOINTS}, 3] (HumanEva-15 joints, world metres).")
            if action not in pos2d[subject]:
                raise LiftRigError(f"{path2d.name} has no action {action!r} for {subject}, but "
                                   f"{path3d.name} does: the two files do not belong together.")
            views = pos2d[subject][action]
            if len(views) != len(CAMERA_IDS):
                raise LiftRigError(f"{path2d.name}: positions_2d[{subject!r}][{action!r}] has "
                                   f"{len(views)} cameras, expected 3 ({', '.join(CAMERA_IDS)}).")
            n = len(world)
            for cam, kp in enumerate(views):
                where = f"{path2d.name}: positions_2d[{subject!r}][{action!r}][{cam}]"
                if kp is None:
                    raise LiftRigError(f"{where} is empty (camera {CAMERA_IDS[cam]} has no 2D); "
                                       "use the ground-truth 2D file.")
                kp = np.asarray(kp)
                check_view(where, kp, NUM_JOINTS, n, "HumanEva-15")
                screen = normalize_screen(kp[:n].astype(np.float64), RESOLUTION)
                p3d = None
                if with_3d:
                    p3d = _camera_space(world.astype(np.float64), subject, cam)
                    p3d = (p3d - p3d[:, :1]).astype(np.float32)
                sequences.append(GroupedSequence(subject, action, cam, screen.astype(np.float32),
                                                 p3d, group=action_group(subject, action)))
    return sequences


def table_order(groups) -> list[str]:
    """Columns as in the papers: Walk, Jog, Box (S1, S2, S3 each), then any other group."""
    known = [f"{a} {s}" for a in TEST_ACTIONS for s in ("S1", "S2", "S3")]
    return [g for g in known if g in groups] + sorted(g for g in groups if g not in known)
