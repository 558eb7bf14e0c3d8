# SPDX-License-Identifier: GPL-3.0-or-later
"""Rotation helpers on batches of 3x3 matrices and quaternions (numpy/scipy only).

Quaternions are stored w-first (``w, x, y, z``), as Blender's ``rotation_quaternion`` is;
scipy's :class:`~scipy.spatial.transform.Rotation` (x, y, z, w) is only used inside.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from ..motion import quaternions_from_matrices, sign_continuous

# One conversion for the whole package (numpy only, so Blender's side shares it): matrices ->
# unit quaternions (w, x, y, z), and sign flips that keep each channel continuous in time.
quat_from_matrix = quaternions_from_matrices
continuous_quaternions = sign_continuous

EPS = 1e-9


def normalize(v: np.ndarray, axis: int = -1) -> np.ndarray:
    """Unit vectors along ``axis``; zero vectors stay zero instead of becoming NaN."""
    n = np.linalg.norm(v, axis=axis, keepdims=True)
    return v / np.maximum(n, EPS)


def _as_rotation(matrices: np.ndarray) -> tuple[Rotation, tuple[int, ...]]:
    lead = matrices.shape[:-2]
    return Rotation.from_matrix(matrices.reshape(-1, 3, 3)), lead


def matrix_from_quat(quats: np.ndarray) -> np.ndarray:
    """[..., 4] quaternions (w, x, y, z) -> [..., 3, 3] rotation matrices."""
    q = np.asarray(quats, np.float64)
    lead = q.shape[:-1]
    xyzw = np.concatenate([q[..., 1:], q[..., :1]], axis=-1).reshape(-1, 4)
    return Rotation.from_quat(xyzw).as_matrix().reshape(*lead, 3, 3)


def angle_between_rotations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in radians of ``a^T b`` for [..., 3, 3] rotation matrices."""
    rel = np.swapaxes(a, -1, -2) @ b
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


def frame_from_vectors(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frames [..., 3, 3] whose columns are the primary axis, the secondary axis made
    perpendicular to it, and their cross product (a right-handed frame)."""
    a = normalize(primary)
    s = secondary - np.sum(secondary * a, axis=-1, keepdims=True) * a
    s = normalize(s)
    return np.stack([a, s, np.cross(a, s)], axis=-1)


def rotation_aligning(rest_primary, rest_secondary, pose_primary, pose_secondary) -> np.ndarray:
    """The rotation that turns the rest frame (primary exactly, secondary as near as possible)
    into the posed frame: [..., 3, 3]."""
    rest = frame_from_vectors(rest_primary, rest_secondary)
    pose = frame_from_vectors(pose_primary, pose_secondary)
    return pose @ np.swapaxes(rest, -1, -2)


def swing_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction ``a`` onto direction ``b``: [..., 3, 3]."""
    a = normalize(a)
    b = normalize(b)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.sum(a * b, axis=-1)
    # For opposite vectors any perpendicular axis will do.
    fallback = np.cross(a, np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]))
    axis = np.where((sin < 1e-9)[..., None], fallback, axis)
    rotvec = normalize(axis) * np.arctan2(sin, cos)[..., None]
    lead = rotvec.shape[:-1]
    return Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(*lead, 3, 3)


def best_fit_rotation(rest_vectors: np.ndarray, pose_vectors: np.ndarray,
                      weights: np.ndarray | None = None) -> np.ndarray:
    """The rotation R minimising sum w_i |R rest_i - pose_i|^2 (Wahba's problem, by SVD).

    ``rest_vectors`` [..., N, 3] (broadcast against ``pose_vectors`` [..., N, 3]) -> [..., 3, 3].
    """
    rest = np.broadcast_to(rest_vectors, np.broadcast_shapes(rest_vectors.shape, pose_vectors.shape))
    w = np.ones(rest.shape[-2]) if weights is None else np.asarray(weights, np.float64)
    h = np.einsum("...ni,...nj,n->...ij", pose_vectors, rest, w)   # [..., 3, 3]
    u, _, vt = np.linalg.svd(h)
    det = np.linalg.det(u @ vt)
    d = np.ones(h.shape[:-1])
    d[..., 2] = np.sign(det) + (det == 0)
    return (u * d[..., None, :]) @ vt


def euler_from_matrix(matrices: np.ndarray, order: str) -> np.ndarray:
    """[F, ..., 3, 3] -> [F, ..., 3] intrinsic Euler angles in degrees, in the axis ``order``
    (e.g. "ZXY": R = Rz Rx Ry, BVH's convention), continuous over the first (time) axis.

    Each frame takes whichever of the two equivalent triples (a, b, c) and
    (a + 180, 180 - b, c + 180), shifted by whole turns, lies closest to the previous frame,
    so exported curves have no 360-degree jumps or gimbal-side flips.
    """
    m = np.asarray(matrices, np.float64)
    frames = m.shape[0]
    rot, lead = _as_rotation(m)
    base = np.degrees(rot.as_euler(order.upper())).reshape(*lead, 3)
    alt = base + np.array([180.0, 0.0, 180.0])
    alt[..., 1] = 180.0 - base[..., 1]
    out = np.empty_like(base)
    prev = None
    for f in range(frames):
        options = np.stack([base[f], alt[f]])                    # [2, ..., 3]
        if prev is None:
            choice = _wrap(options)
            pick = np.sum(np.abs(choice), axis=-1).argmin(axis=0)   # the smaller angles first
        else:
            choice = prev + _wrap(options - prev)
            pick = np.sum((choice - prev) ** 2, axis=-1).argmin(axis=0)
        out[f] = np.take_along_axis(choice, pick[None, ..., None], axis=0)[0]
        prev = out[f]
    return out


def _wrap(degrees: np.ndarray) -> np.ndarray:
    """Angles shifted by whole turns into [-180, 180)."""
    return (degrees + 180.0) % 360.0 - 180.0


def matrix_from_euler(degrees: np.ndarray, order: str) -> np.ndarray:
    """[..., 3] intrinsic Euler angles in degrees (axis ``order``) -> [..., 3, 3]."""
    d = np.asarray(degrees, np.float64)
    lead = d.shape[:-1]
    return Rotation.from_euler(order.upper(), np.radians(d.reshape(-1, 3))).as_matrix().reshape(
        *lead, 3, 3)
