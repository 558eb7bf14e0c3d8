# SPDX-License-Identifier: GPL-3.0-or-later
"""Evaluation metrics (numpy, float64): per-frame errors, so callers can average per action.

Inputs are poses [N, J, 3] (frames, joints, xyz); outputs are per-frame errors [N] in the inputs'
unit (multiply metres by 1000 for the papers' millimetres) unless said otherwise.
"""

from __future__ import annotations

import numpy as np


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Protocol 1: mean joint distance per frame [N]."""
    return np.linalg.norm(np.asarray(pred, np.float64) - gt, axis=-1).mean(axis=-1)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` [N, J, 3] moved onto ``gt`` frame by frame by the best similarity transform
    (translation, rotation without reflection, uniform scale), in the least-squares sense."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    mu_p, mu_g = pred.mean(axis=1, keepdims=True), gt.mean(axis=1, keepdims=True)
    p, g = pred - mu_p, gt - mu_g  # [N, J, 3]
    cov = np.einsum("nji,njk->nik", p, g)  # [N, 3, 3] sum over joints of p g^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", u, vt)))  # -1 where a reflection fits
    s[:, -1] *= d
    vt[:, -1] *= d[:, None]
    rot = np.einsum("nij,njk->nik", u, vt)  # [N, 3, 3]: p @ rot ~ g
    scale = s.sum(axis=1) / np.square(p).sum(axis=(1, 2))  # [N]
    return scale[:, None, None] * (p @ rot) + mu_g


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Protocol 2: MPJPE after per-frame similarity Procrustes alignment [N]."""
    return mpjpe(procrustes_align(pred, gt), gt)


def n_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """MPJPE after scaling each frame's prediction by the least-squares scale onto ``gt`` [N]."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    scale = np.sum(pred * gt, axis=(1, 2)) / np.sum(pred * pred, axis=(1, 2))
    return mpjpe(scale[:, None, None] * pred, gt)


def mpjve(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean per-joint velocity error [N - 1]: MPJPE of the frame-to-frame differences."""
    return mpjpe(np.diff(pred, axis=0), np.diff(gt, axis=0))


def pck(pred: np.ndarray, gt: np.ndarray, threshold: float = 0.15) -> float:
    """Percentage of joints (0-100) within ``threshold`` of the truth (MPI-INF-3DHP: 150 mm)."""
    dist = np.linalg.norm(np.asarray(pred, np.float64) - gt, axis=-1)
    return float(100.0 * np.mean(dist <= threshold))


def auc(pred: np.ndarray, gt: np.ndarray, max_threshold: float = 0.15, steps: int = 31) -> float:
    """Mean PCK (0-100) over ``steps`` thresholds evenly from 0 to ``max_threshold`` (3DHP: 0..150 mm
    by 5 mm)."""
    return float(np.mean([pck(pred, gt, t) for t in np.linspace(0, max_threshold, steps)]))


def pck_frames(pred: np.ndarray, gt: np.ndarray, threshold: float = 0.15, joints=None) -> np.ndarray:
    """Per-frame percentage [N] of ``joints`` (all when None) closer than ``threshold`` to the truth,
    counted as MPI-INF-3DHP's official evaluation does (error < threshold)."""
    dist = np.linalg.norm(np.asarray(pred, np.float64) - gt, axis=-1)  # [N, J]
    if joints is not None:
        dist = dist[:, list(joints)]
    return 100.0 * np.mean(dist < threshold, axis=1)


def auc_frames(pred: np.ndarray, gt: np.ndarray, max_threshold: float = 0.15, steps: int = 31,
               joints=None) -> np.ndarray:
    """Per-frame area under the PCK curve [N]: :func:`pck_frames` averaged over ``steps``
    thresholds from 0 to ``max_threshold`` (3DHP: 0, 5, .. 150 mm)."""
    return np.mean([pck_frames(pred, gt, t, joints) for t in np.linspace(0, max_threshold, steps)],
                   axis=0)


def acceleration_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Mean per-joint acceleration error [N - 2]: MPJPE of the second differences (jitter)."""
    return mpjpe(np.diff(pred, n=2, axis=0), np.diff(gt, n=2, axis=0))


def mean_acceleration(poses: np.ndarray) -> float:
    """Mean joint acceleration magnitude (jitter of a sequence with no ground truth) [scalar]."""
    return float(np.linalg.norm(np.diff(np.asarray(poses, np.float64), n=2, axis=0), axis=-1).mean())


def bone_length_std(poses: np.ndarray, bones) -> np.ndarray:
    """Standard deviation of each bone's length over a sequence [len(bones)]."""
    poses = np.asarray(poses, np.float64)
    return np.array([np.linalg.norm(poses[:, c] - poses[:, p], axis=-1).std() for p, c in bones])


# The limbs whose direction a detector's choice of hip and shoulder points does not change:
# thighs, shins, upper arms, forearms (Human3.6M indices, parent -> child).
LIMBS = ((1, 2), (2, 3), (4, 5), (5, 6), (11, 12), (12, 13), (14, 15), (15, 16))


def limb_direction_error(pred: np.ndarray, gt: np.ndarray, limbs=LIMBS) -> np.ndarray:
    """Angle (degrees) between each predicted and true limb direction, per frame [N] (mean
    over ``limbs``), after one rotation for the whole clip (the camera's unknown orientation
    relative to the reference, fitted to every limb of every frame at once)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    idx_p, idx_c = [p for p, _ in limbs], [c for _, c in limbs]

    def directions(poses):
        d = poses[:, idx_c] - poses[:, idx_p]                                  # [N, L, 3]
        return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9)

    a, b = directions(pred), directions(gt)
    u, _, vt = np.linalg.svd(np.einsum("nli,nlk->ik", a, b))                  # a @ R ~ b
    d = np.sign(np.linalg.det(u @ vt))
    u[:, -1] *= d
    rotated = a @ (u @ vt)
    cos = np.clip((rotated * b).sum(axis=-1), -1.0, 1.0)
    return np.degrees(np.arccos(cos)).mean(axis=-1)


def body_proportions(poses: np.ndarray) -> dict[str, float]:
    """Median hip width / thigh and shoulder width / upper arm of poses [N, 17, 3], and the
    left/right asymmetry of the limbs (median |L - R| / mean length, per cent)."""
    poses = np.asarray(poses, np.float64)

    def length(a, b):
        return np.linalg.norm(poses[:, a] - poses[:, b], axis=-1)

    thigh = 0.5 * (length(1, 2) + length(4, 5))
    upper_arm = 0.5 * (length(11, 12) + length(14, 15))
    pairs = (((1, 2), (4, 5)), ((2, 3), (5, 6)), ((14, 15), (11, 12)), ((15, 16), (12, 13)))
    asym = [np.median(np.abs(length(*r) - length(*l)) / (0.5 * (length(*r) + length(*l))))
            for r, l in pairs]
    return {"hips/thigh": float(np.median(length(1, 4) / thigh)),
            "shoulders/upper arm": float(np.median(length(11, 14) / upper_arm)),
            "asymmetry %": 100 * float(np.mean(asym))}
