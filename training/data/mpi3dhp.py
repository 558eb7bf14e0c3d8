# SPDX-License-Identifier: GPL-3.0-or-later
"""MPI-INF-3DHP in the preprocessed npz layout of P-STMO (also used by PoseFormerV2, MHFormer and
others that copied P-STMO's data), validated, as sequences in the Human3.6M-17 joint order.

Files in one folder (each with one key ``data``, a pickled dict):
  ``data_train_3dhp.npz``: ``'S1 Seq1'`` .. ``'S8 Seq2'`` -> a list whose first element is a dict
  camera -> {``data_2d``: [N, 17, 2] pixels of the 2048 x 2048 training cameras, ``data_3d``:
  [N, 17, 3] millimetres in that camera's axes}. P-STMO reads only the list's first element; so
  does this loader.
  ``data_test_3dhp.npz``: ``'TS1'`` .. ``'TS6'`` -> {``data_2d`` [N, 17, 2] pixels (2048 x 2048 for
  TS1-TS4, 1920 x 1080 for TS5-TS6), ``data_3d`` [N, 17, 3] millimetres, ``valid`` [N] (1 where the
  frame is annotated and counts in the evaluation), possibly more entries that are not used}.
The joints are MPI-INF-3DHP's 17 test joints (head top, neck, right shoulder, elbow, wrist, left
shoulder, elbow, wrist, right hip, knee, ankle, left hip, knee, ankle, pelvis, spine, head); the
loader reorders them into the Human3.6M-17 order every other part of LiftRig uses (a one-to-one
relabelling, so MPJPE, PCK and AUC do not change), makes the 3D root-relative at the pelvis and
converts it to metres. 2D is normalised by each sequence's image size like Human3.6M's.

Not verified here, said so rather than guessed: P-STMO's conversion scripts are said to store the
``univ_annot3`` poses (rescaled to a universal skeleton height), which is what the official MATLAB
evaluation compares against; the capture rate is taken as 25 fps (the training videos; the outdoor
test sequences TS5/TS6 may be faster), which only matters for the fps written into exported weights.

Metrics (the official evaluation, ``mpii_test_predictions_py.m`` with
``mpii_get_pck_auc_joint_groups.m``): on the valid frames only, MPJPE over all 17 joints, PCK@150 mm
and AUC (PCK at 0, 5, .. 150 mm) over 14 joints (head top, neck, shoulders, elbows, wrists, hips,
knees, ankles; not the pelvis, spine and head), reported per test sequence and over all frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import LiftRigError
from ...h36m import normalize_screen
from .humaneva import GroupedSequence
from .npz import read_dict

NUM_JOINTS = 17
# H36M_FROM_3DHP[k] = the 3DHP index of Human3.6M-17 joint k.
H36M_FROM_3DHP = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)
ROOT_3DHP = 14
# The 14 joints of the official PCK/AUC, as Human3.6M-17 indices (all but pelvis 0, spine 7, head 9).
PCK_JOINTS = (10, 8, 14, 11, 15, 12, 16, 13, 1, 4, 2, 5, 3, 6)
TRAIN_SUBJECTS = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
TRAIN_RESOLUTION = (2048, 2048)
TEST_RESOLUTION = {"TS1": (2048, 2048), "TS2": (2048, 2048), "TS3": (2048, 2048),
                   "TS4": (2048, 2048), "TS5": (1920, 1080), "TS6": (1920, 1080)}
FPS = 25.0

LAYOUT = "P-STMO's MPI-INF-3DHP layout"
HELP = ("Prepare it as P-STMO does (its data_to_npz_3dhp.py and data_to_npz_3dhp_test.py, or its "
        "published data_train_3dhp.npz / data_test_3dhp.npz) and pass the folder with --data.")


def _arrays(where: str, entry, size) -> tuple[np.ndarray, np.ndarray]:
    """(normalised 2D [N, 17, 2], root-relative 3D metres [N, 17, 3]), Human3.6M-17 order."""
    if not isinstance(entry, dict):
        raise LiftRigError(f"{where} must be a dict with data_2d and data_3d, got "
                           f"{type(entry).__name__}.")
    for key in ("data_2d", "data_3d"):
        if key not in entry:
            raise LiftRigError(f"{where} has no {key!r} (it has {sorted(entry)}).")
    kp, p3d = np.asarray(entry["data_2d"]), np.asarray(entry["data_3d"])
    if kp.ndim != 3 or kp.shape[1] != NUM_JOINTS or kp.shape[2] < 2 or len(kp) == 0:
        raise LiftRigError(f"{where}['data_2d'] has shape {list(kp.shape)}, expected [N, 17, 2] "
                           "pixels (MPI-INF-3DHP's 17 test joints).")
    if p3d.ndim != 3 or p3d.shape[1:] != (NUM_JOINTS, 3):
        raise LiftRigError(f"{where}['data_3d'] has shape {list(p3d.shape)}, expected [N, 17, 3] "
                           "millimetres in camera axes.")
    if len(kp) != len(p3d):
        raise LiftRigError(f"{where}: data_2d has {len(kp)} frames but data_3d {len(p3d)}.")
    order = list(H36M_FROM_3DHP)
    screen = normalize_screen(kp[:, order, :2].astype(np.float64), size)
    p3d = p3d.astype(np.float64)
    p3d = (p3d - p3d[:, ROOT_3DHP:ROOT_3DHP + 1])[:, order] / 1000.0
    return screen.astype(np.float32), p3d.astype(np.float32)


def _train_sequences(path: Path, data: dict, subjects) -> list[GroupedSequence]:
    out = []
    for subject in subjects:
        keys = sorted(k for k in data if str(k).split(" ")[0] == subject)
        if not keys:
            raise LiftRigError(f"{path} has no sequences of subject {subject} (it has "
                               f"{', '.join(sorted(map(str, data))) or 'none'}). The file is "
                               "incomplete; prepare it again.")
        for key in keys:
            setups = data[key]
            if not isinstance(setups, (list, tuple)) or not setups or not isinstance(setups[0], dict):
                raise LiftRigError(f"{path.name}: data[{key!r}] must be a list whose first element "
                                   "maps cameras to dicts with data_2d and data_3d.")
            cams = setups[0]
            if not cams:
                raise LiftRigError(f"{path.name}: data[{key!r}][0] has no cameras.")
            seq_name = key.split(" ", 1)[1] if " " in key else key
            for index, cam in enumerate(sorted(cams, key=str)):
                where = f"{path.name}: data[{key!r}][0][{cam!r}]"
                pose2d, pose3d = _arrays(where, cams[cam], TRAIN_RESOLUTION)
                camera = int(cam) if str(cam).isdigit() else index
                out.append(GroupedSequence(subject, seq_name, camera, pose2d, pose3d, group=subject))
    return out


def _test_sequences(path: Path, data: dict, subjects) -> list[GroupedSequence]:
    out = []
    for subject in subjects:
        if subject not in data:
            raise LiftRigError(f"{path} has no test sequence {subject} (it has "
                               f"{', '.join(sorted(map(str, data))) or 'none'}). The file is "
                               "incomplete; prepare it again.")
        entry = data[subject]
        where = f"{path.name}: data[{subject!r}]"
        pose2d, pose3d = _arrays(where, entry, TEST_RESOLUTION[subject])
        if "valid" not in entry:
            raise LiftRigError(f"{where} has no 'valid' (the frames that count in the evaluation).")
        valid = np.asarray(entry["valid"]).reshape(-1)
        if len(valid) != len(pose2d):
            raise LiftRigError(f"{where}['valid'] has {len(valid)} entries for {len(pose2d)} frames.")
        valid = valid.astype(bool)
        if not valid.any():
            raise LiftRigError(f"{where}: no frame is marked valid.")
        out.append(GroupedSequence(subject, subject, 0, pose2d, pose3d, group=subject, valid=valid))
    return out


def load_3dhp(root, subjects) -> list[GroupedSequence]:
    """Read and validate ``subjects`` of MPI-INF-3DHP in folder ``root``: training subjects
    ``S1`` .. ``S8`` from ``data_train_3dhp.npz`` (one sequence per recording and camera), test
    sequences ``TS1`` .. ``TS6`` from ``data_test_3dhp.npz`` (with their valid-frame masks)."""
    root = Path(root)
    if not root.is_dir():
        raise LiftRigError(f"MPI-INF-3DHP folder not found: {root}. {HELP}")
    unknown = [s for s in subjects if s not in TRAIN_SUBJECTS + TEST_SUBJECTS]
    if unknown:
        raise LiftRigError(f"{', '.join(unknown)}: not MPI-INF-3DHP subjects (training "
                           f"{', '.join(TRAIN_SUBJECTS)}; test {', '.join(TEST_SUBJECTS)}).")
    train = [s for s in subjects if s in TRAIN_SUBJECTS]
    test = [s for s in subjects if s in TEST_SUBJECTS]
    out = []
    if train:
        path = root / "data_train_3dhp.npz"
        out += _train_sequences(path, read_dict(path, "data", LAYOUT, HELP)[0], train)
    if test:
        path = root / "data_test_3dhp.npz"
        out += _test_sequences(path, read_dict(path, "data", LAYOUT, HELP)[0], test)
    return out
