# SPDX-License-Identifier: GPL-3.0-or-later
"""The subject's path through the camera's space, from its 2D keypoints and root-relative 3D.

The lifter gives joints relative to the pelvis, in camera coordinates (x right, y down,
z forward, metres). Per frame, the pelvis position T is the one that best projects
``joints + T`` onto the 2D keypoints through a pinhole camera: with u = f (X + tx) / (Z + tz)
+ cx, each joint gives two equations linear in T, solved by weighted least squares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import LiftRigError
from ..options import DEFAULT_FOV_DEG

MIN_SCORE = 0.3          # keypoints below this confidence do not vote
MIN_JOINTS = 4           # a frame with fewer confident keypoints borrows its neighbours' root


@dataclass(frozen=True)
class PinholeCamera:
    """Focal length and principal point in pixels."""

    focal: float
    cx: float
    cy: float

    @classmethod
    def from_fov(cls, size: tuple[int, int], fov_deg: float = DEFAULT_FOV_DEG) -> "PinholeCamera":
        """A centred camera whose field of view across the longer image side is ``fov_deg``."""
        if not 1.0 < fov_deg < 179.0:
            raise LiftRigError(f"field of view must be between 1 and 179 degrees, got {fov_deg}")
        w, h = size
        return cls(focal=0.5 * max(w, h) / np.tan(np.radians(fov_deg) / 2.0), cx=w / 2.0,
                   cy=h / 2.0)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Camera-space points [..., 3] -> pixels [..., 2]."""
        z = points[..., 2:3]
        return self.focal * points[..., :2] / z + np.array([self.cx, self.cy])


def look_at_rotation(position, target, roll_deg: float = 0.0) -> np.ndarray:
    """A camera's rotation [3, 3] in LiftRig's world (Z up): rows are its x (right), y (down)
    and z (forward) axes, looking from ``position`` at ``target``, rolled by ``roll_deg``.
    Camera-space points are ``(world - position) @ rotation.T``."""
    z = np.asarray(target, np.float64) - np.asarray(position, np.float64)
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c, s = np.cos(np.radians(roll_deg)), np.sin(np.radians(roll_deg))
    return np.stack([c * x + s * y, -s * x + c * y, z])


def solve_root(keypoints: np.ndarray, scores: np.ndarray, joints3d: np.ndarray,
               camera: PinholeCamera, valid: np.ndarray | None = None) -> np.ndarray:
    """The pelvis position in camera space per frame [F, 3].

    ``keypoints`` [F, J, 2] pixels, ``scores`` [F, J], ``joints3d`` [F, J, 3] root-relative
    camera-space metres. Frames without enough confident keypoints (or not ``valid``) take the
    root interpolated from their neighbours. The linear solve weighs each joint's residual by
    its depth; one reweighting pass turns that into the pixel error.
    """
    kp = np.asarray(keypoints, np.float64)
    rel = np.asarray(joints3d, np.float64)
    w = np.where(np.asarray(scores) >= MIN_SCORE, np.asarray(scores, np.float64), 0.0)
    if valid is not None:
        w = w * np.asarray(valid, bool)[:, None]
    w = np.where(np.isfinite(kp).all(-1) & np.isfinite(rel).all(-1), w, 0.0)
    kp = np.nan_to_num(kp)
    rel = np.nan_to_num(rel)
    ok = (w > 0).sum(axis=1) >= MIN_JOINTS
    if not ok.any():
        raise LiftRigError("no frame has enough confident keypoints to place the subject in "
                           "the scene; check the keypoints file (scores, valid)")
    f = camera.focal
    du = kp[..., 0] - camera.cx                                   # [F, J]
    dv = kp[..., 1] - camera.cy
    zeros = np.zeros_like(du)
    fs = np.full_like(du, f)
    # Rows: f tx - du tz = du Z - f X ;  f ty - dv tz = dv Z - f Y
    a = np.concatenate([np.stack([fs, zeros, -du], -1), np.stack([zeros, fs, -dv], -1)], 1)
    b = np.concatenate([du * rel[..., 2] - f * rel[..., 0], dv * rel[..., 2] - f * rel[..., 1]], 1)
    root = _weighted_lstsq(a, b, np.concatenate([w, w], 1), ok)
    depth = np.maximum(rel[..., 2] + root[:, None, 2], 1e-3)          # [F, J]
    w2 = w / depth ** 2
    root = _weighted_lstsq(a, b, np.concatenate([w2, w2], 1), ok)
    frames = np.arange(len(root))
    for axis in range(3):
        root[~ok, axis] = np.interp(frames[~ok], frames[ok], root[ok, axis])
    return root


def _weighted_lstsq(a: np.ndarray, b: np.ndarray, w: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per frame argmin_x sum w (a x - b)^2 for a [F, N, 3], b [F, N], w [F, N]."""
    ata = np.einsum("fni,fn,fnj->fij", a, w, a)
    atb = np.einsum("fni,fn,fn->fi", a, w, b)
    ata[~ok] = np.eye(3)
    atb[~ok] = 0.0
    return np.linalg.solve(ata, atb[..., None])[..., 0]
