# SPDX-License-Identifier: GPL-3.0-or-later
"""Human3.6M in the common preprocessed layout (VideoPose3D's), validated, as camera-space sequences.

Files in one folder:
  ``data_3d_h36m.npz``: key ``positions_3d``: subject -> action -> float32 [N, 32, 3] world, metres.
  ``data_2d_h36m_<source>.npz``: key ``positions_2d``: subject -> action -> 4 arrays [M >= N, 17, 2]
  (pixels, one per camera, Human3.6M-17 order); key ``metadata`` (``num_joints``,
  ``keypoints_symmetry``). The 2D may be a few frames longer than the 3D: it is cropped to the 3D.
Every sequence becomes one :class:`Sequence` per camera: 2D in normalised screen coordinates and
3D in that camera's axes, root-relative. Any other source (the synthetic one, other datasets) plugs
in by producing the same list of :class:`Sequence`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import LiftRigError
from ...h36m import LEFT_JOINTS, NUM_JOINTS, RIGHT_JOINTS
from ...h36m import normalize_screen
from . import cameras
from .npz import check_metadata, check_subject, check_view, read_dict

# The 17 of the 32 Human3.6M joints that the Human3.6M-17 layout keeps (in that layout's order).
KEEP_JOINTS_32 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
SOURCES = ("cpn_ft_h36m_dbb", "gt", "detectron_ft_h36m")
FPS = 50.0

LAYOUT = "the common Human3.6M layout (17 joints)"
HELP = ("Prepare it as in VideoPose3D's data/prepare_data_h36m.py (the layout MixSTE and P-STMO "
        "use) and pass its folder with --data.")


@dataclass
class Sequence:
    """One subject's action seen by one camera."""

    subject: str
    action: str
    camera: int
    pose2d: np.ndarray          # float32 [N, 17, 2] normalised screen coordinates
    pose3d: np.ndarray | None   # float32 [N, 17, 3] metres, camera axes, root at the origin

    def __len__(self) -> int:
        return len(self.pose2d)


def load_h36m(root, source: str, subjects, with_3d: bool = True) -> list[Sequence]:
    """Read and validate ``subjects`` of the dataset in folder ``root`` with 2D from ``source``.

    Returns one :class:`Sequence` per (subject, action, camera), sorted. Any missing file, key,
    subject or action and any wrong shape raises a :class:`LiftRigError` naming it.
    """
    root = Path(root)
    if not root.is_dir():
        raise LiftRigError(f"Human3.6M folder not found: {root}. {HELP}")
    path3d, path2d = root / "data_3d_h36m.npz", root / f"data_2d_h36m_{source}.npz"
    if source not in SOURCES:
        raise LiftRigError(f"unknown 2D source {source!r}; use one of {', '.join(SOURCES)} "
                           f"(the file {path2d.name}).")
    pos3d, _ = read_dict(path3d, "positions_3d", LAYOUT, HELP)
    pos2d, entries2d = read_dict(path2d, "positions_2d", LAYOUT, HELP)
    check_metadata(path2d, entries2d, NUM_JOINTS, LEFT_JOINTS, RIGHT_JOINTS, LAYOUT, HELP)

    sequences = []
    for subject in subjects:
        if subject not in cameras.EXTRINSICS:
            raise LiftRigError(f"subject {subject!r} is not a Human3.6M subject with cameras "
                               f"({', '.join(cameras.EXTRINSICS)}).")
        check_subject(subject, ((path3d, pos3d), (path2d, pos2d)))
        for action in sorted(pos3d[subject]):
            world = np.asarray(pos3d[subject][action])
            where3d = f"{path3d.name}: positions_3d[{subject!r}][{action!r}]"
            if world.ndim != 3 or world.shape[1:] != (32, 3) or len(world) == 0:
                raise LiftRigError(f"{where3d} has shape {list(world.shape)}, expected [N, 32, 3] "
                                   "(the 32 Human3.6M joints, world coordinates in metres).")
            if action not in pos2d[subject]:
                raise LiftRigError(f"{path2d.name} has no action {action!r} for {subject}, but "
                                   f"{path3d.name} does: the two files do not belong together.")
            views = pos2d[subject][action]
            if len(views) != len(cameras.CAMERA_IDS):
                raise LiftRigError(f"{path2d.name}: positions_2d[{subject!r}][{action!r}] has "
                                   f"{len(views)} cameras, expected 4 (in the order "
                                   f"{', '.join(cameras.CAMERA_IDS)}).")
            n = len(world)
            joints = world[:, KEEP_JOINTS_32].astype(np.float64)  # [N, 17, 3]
            for cam, kp in enumerate(views):
                kp = np.asarray(kp)
                where = f"{path2d.name}: positions_2d[{subject!r}][{action!r}][{cam}]"
                check_view(where, kp, NUM_JOINTS, n, "Human3.6M-17")
                screen = normalize_screen(kp[:n].astype(np.float64), cameras.INTRINSICS[cam]["res"])
                p3d = None
                if with_3d:
                    p3d = cameras.world_to_camera(joints, subject, cam)  # [N, 17, 3]
                    p3d = p3d - p3d[:, :1]
                    p3d = p3d.astype(np.float32)
                sequences.append(Sequence(subject, action, cam, screen.astype(np.float32), p3d))
    return sequences


def split_tail(sequences: list[Sequence], fraction: float) -> tuple[list[Sequence], list[Sequence]]:
    """Hold out the last ``fraction`` of every sequence's frames: (training part, validation part).

    The validation split comes from the training subjects, so models are selected without ever
    looking at the test subjects.
    """
    if fraction <= 0:
        return list(sequences), []
    train, val = [], []
    for s in sequences:
        cut = len(s) - max(1, int(round(len(s) * fraction)))
        if cut < 1:
            train.append(s)
            continue
        train.append(Sequence(s.subject, s.action, s.camera, s.pose2d[:cut],
                              None if s.pose3d is None else s.pose3d[:cut]))
        val.append(Sequence(s.subject, s.action, s.camera, s.pose2d[cut:],
                            None if s.pose3d is None else s.pose3d[cut:]))
    return train, val


# The papers' 15 actions, in the order of their tables: (column label, name in the files).
ACTIONS = (("Dir.", "Directions"), ("Disc.", "Discussion"), ("Eat", "Eating"),
           ("Greet", "Greeting"), ("Phone", "Phoning"), ("Photo", "Photo"), ("Pose", "Posing"),
           ("Pur.", "Purchases"), ("Sit", "Sitting"), ("SitD.", "SittingDown"),
           ("Smoke", "Smoking"), ("Wait", "Waiting"), ("WalkD.", "WalkDog"),
           ("Walk", "Walking"), ("WalkT.", "WalkTogether"))
# S1's files spell two actions differently.
_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}


def action_group(action: str) -> str:
    """'Walking 1' -> 'Walking', 'TakingPhoto' -> 'Photo': the table column a sequence counts in."""
    base = action.split(" ")[0]
    return _ALIASES.get(base, base)
