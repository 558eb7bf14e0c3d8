# SPDX-License-Identifier: GPL-3.0-or-later
"""From camera space to LiftRig's world: metres, Z up, floor at Z = 0, subject facing a chosen axis.

The floor is where the planted feet are: the ankles' low, slow positions over the clip. A plane
fitted to them gives the camera's pitch and roll where the feet cover ground in two directions;
along directions they do not cover (walking on a line, standing still) the body's average
up direction fills in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import LiftRigError
from ..h36m import JOINT_INDEX as J
from .mocap_map import ANKLE_HEIGHT_PER_SHIN
from .rotations import normalize
from .smoothing import smooth, time_derivative

FEET = (J["LAnkle"], J["RAnkle"])
FACINGS = ("-y", "+y", "-x", "+x", "camera")

# A foot sample counts as planted within this height of the lowest ones and below this speed.
PLANTED_HEIGHT = 0.05    # metres
PLANTED_SPEED = 0.4      # metres per second
# The feet's spread along a direction must reach this (standard deviation, metres) before the
# floor plane's tilt along it is trusted over the body's up direction.
MIN_SPREAD = 0.25
MAX_TILT_FROM_BODY = np.radians(30.0)


@dataclass(frozen=True)
class WorldFrame:
    """world = rotation @ camera + translation (camera: x right, y down, z forward)."""

    rotation: np.ndarray      # [3, 3]
    translation: np.ndarray   # [3]

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.translation

    @property
    def camera_matrix(self) -> np.ndarray:
        """The camera's pose in the world [4, 4] with OpenCV axes (x right, y down, z forward);
        for a Blender camera (looking down -Z, +Y up) multiply by diag(1, -1, -1, 1)."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation
        return m


def body_up(points: np.ndarray) -> np.ndarray:
    """The subject's average up direction [3] over the clip (pelvis to thorax, ankles to pelvis)."""
    pelvis, thorax = points[:, J["Pelvis"]], points[:, J["Thorax"]]
    ankles = points[:, list(FEET)].mean(axis=1)
    up = normalize(thorax - pelvis) + normalize(pelvis - ankles)
    return normalize(np.nanmean(up, axis=0))


def planted_feet(points: np.ndarray, up: np.ndarray, fps: float) -> np.ndarray:
    """Ankle positions [N, 3] that look planted: low along ``up`` and slow."""
    feet = smooth(points[:, list(FEET)], fps, 0.5)                        # [F, 2, 3]
    height = feet @ up                                                    # [F, 2]
    speed = np.linalg.norm(time_derivative(feet), axis=-1) * fps      # [F, 2]
    low = height < np.nanpercentile(height, 5) + PLANTED_HEIGHT
    slow = speed < PLANTED_SPEED
    picked = feet[low & slow]
    return picked if len(picked) >= 5 else feet[low]


def estimate_up(points: np.ndarray, fps: float) -> np.ndarray:
    """The floor's normal [3] in the points' frame (pointing up, toward the subject)."""
    up = body_up(points)
    for _ in range(2):   # the planted samples depend on "up": refine once
        feet = planted_feet(points, up, fps)
        centred = feet - feet.mean(axis=0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        spread = np.pad(s / np.sqrt(max(len(feet) - 1, 1)), (0, 3 - len(s)))  # few samples: 0
        if spread[1] >= MIN_SPREAD:
            normal = vt[2] * np.sign(vt[2] @ up)
        elif spread[0] >= MIN_SPREAD:
            normal = normalize(up - (up @ vt[0]) * vt[0])
        else:
            normal = up
        if np.arccos(np.clip(normal @ up, -1, 1)) > MAX_TILT_FROM_BODY:
            normal = up
        up = normal
    return up


def facing_direction(points: np.ndarray, up: np.ndarray, fps: float, seconds: float = 0.5):
    """The subject's horizontal forward [3] over the first ``seconds`` (left x up)."""
    n = max(1, int(round(seconds * fps)))
    left = (normalize(points[:n, J["LHip"]] - points[:n, J["RHip"]])
            + normalize(points[:n, J["LShoulder"]] - points[:n, J["RShoulder"]]))
    forward = np.cross(np.nanmean(left, axis=0), up)
    forward -= (forward @ up) * up
    if np.linalg.norm(forward) < 1e-6:
        raise LiftRigError("cannot tell which way the subject faces at the start of the clip")
    return normalize(forward)


def world_frame(points_camera: np.ndarray, fps: float, facing: str = "-y",
                ankle_height: float | None = None) -> WorldFrame:
    """The camera-to-world transform for a clip of camera-space points [F, 17, 3].

    ``facing``: the world axis the subject faces at the start ("-y", Blender's front view,
    by default), or "camera" to keep the camera looking along +Y. The subject's pelvis starts
    above the origin; the floor is Z = 0, the planted ankles ``ankle_height`` above it (by
    default a share of the median shin length).
    """
    if facing not in FACINGS:
        raise LiftRigError(f"facing must be one of {', '.join(FACINGS)}, got {facing!r}")
    up = estimate_up(points_camera, fps)
    if facing == "camera":
        ahead = np.array([0.0, 0.0, 1.0])                 # the camera's optical axis
        target = np.array([0.0, 1.0, 0.0])
    else:
        ahead = facing_direction(points_camera, up, fps)
        sign = -1.0 if facing[0] == "-" else 1.0
        target = sign * (np.array([1.0, 0.0, 0.0]) if facing[1] == "x" else
                         np.array([0.0, 1.0, 0.0]))
    ahead = normalize(ahead - (ahead @ up) * up)
    # Rows: the world's X, Y, Z axes in camera space with `ahead` as +Y; then yaw onto `target`.
    camera_axes = np.stack([np.cross(ahead, up), ahead, up])             # [3, 3]
    rotation = _yaw_onto(target) @ camera_axes
    world = points_camera @ rotation.T
    if ankle_height is None:
        shin = np.nanmedian(np.linalg.norm(points_camera[:, J["LAnkle"]]
                                           - points_camera[:, J["LKnee"]], axis=-1))
        ankle_height = ANKLE_HEIGHT_PER_SHIN * shin
    floor_samples = planted_feet(world, np.array([0.0, 0.0, 1.0]), fps)[:, 2]
    floor = np.median(floor_samples) - ankle_height
    start = world[0, J["Pelvis"]]
    translation = -np.array([start[0], start[1], floor])
    return WorldFrame(rotation=rotation, translation=translation)


def _yaw_onto(target: np.ndarray) -> np.ndarray:
    """The rotation about Z taking +Y onto the horizontal unit vector ``target``."""
    angle = np.arctan2(-target[0], target[1])
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
