# SPDX-License-Identifier: GPL-3.0-or-later
"""Feet, hands and head: their orientation from MediaPipe's landmarks (numpy and scipy only).

The lifter gives 17 points: the ankles, wrists and head end there, so on their own they say
nothing of a foot's roll, a hand's turn or the head's yaw. MediaPipe's world landmarks do (heel
and foot index, index / pinky knuckles, ears, nose), but in their own frame and on their own, less
steady, skeleton. So, per frame:

1. MediaPipe's torso frame (shoulder line, hips -> shoulders) is turned onto ours (the same
   points of the lifted, cleaned skeleton), and each extremity's frame with it. (Attaching a foot
   to our shin as it sat on MediaPipe's, by the least rotation of MediaPipe's shin onto ours,
   measured worse on held-out motion capture: feet 10.0 against 8.9 degrees, hands 18.5 against
   12.7, the head 11.2 against 8.2; ``benchmarks/extremities.py --mocap``.)
2. Where MediaPipe's parent limb (shin, forearm, neck) points far from ours once the torsos
   agree (``AGREE_NONE_DEG``), the two skeletons disagree there and the extremity is eased out.

The result is a target frame (``aim``, ``pole``: the foot's heel -> toe and ankle-over-heel, the
hand's wrist -> knuckles and pinky -> index, the head's right ear -> left ear and ears -> nose)
and a weight per frame: the landmarks' visibility, eased in and out, so that an extremity whose
landmarks are unreliable or out of frame keeps its parent's orientation smoothly instead of
snapping. Both are smoothed over time, the frames weighted by their visibility.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..h36m import JOINT_INDEX as J
from .rotations import frame_from_vectors, normalize

# MediaPipe Pose landmark indices.
NOSE, LEFT_EAR, RIGHT_EAR = 0, 7, 8
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
MP = {"L": {"knee": 25, "ankle": 27, "heel": 29, "toe": 31,
            "elbow": 13, "wrist": 15, "pinky": 17, "index": 19},
      "R": {"knee": 26, "ankle": 28, "heel": 30, "toe": 32,
            "elbow": 14, "wrist": 16, "pinky": 18, "index": 20}}

ROLES = ("left-foot", "right-foot", "left-hand", "right-hand", "head", "left-toe", "right-toe")
# What a role reads, for the mapping report.
ROLE_LANDMARKS = {
    "left-foot": "left heel, left foot index", "right-foot": "right heel, right foot index",
    "left-hand": "left wrist, index, pinky", "right-hand": "right wrist, index, pinky",
    "head": "nose, ears",
    "left-toe": "flat on the floor while the left foot's ball is planted",
    "right-toe": "flat on the floor while the right foot's ball is planted"}
# The toes of each foot role: they bend at the ball while it is planted (.contacts.settle_feet).
TOES = {"left-foot": "left-toe", "right-foot": "right-toe"}

# Visibility below FULL_WEIGHT_FROM eases the extremity towards its parent's orientation; at
# NO_WEIGHT_BELOW it follows the parent alone (MediaPipe's visibility, 0..1).
NO_WEIGHT_BELOW, FULL_WEIGHT_FROM = 0.35, 0.65
# Temporal smoothing: a Gaussian of this many seconds (at smoothing 0) plus this per unit of
# the user's smoothing. Hands and feet are small in the picture: their frames are noisier than
# the limbs'.
SMOOTHING_BASE_S, SMOOTHING_PER_UNIT_S = 0.03, 0.08
# Where MediaPipe's parent limb (shin, forearm, neck), once its torso is on ours, points this
# many degrees away from ours, its extremity is eased out: the two skeletons disagree there
# and the relation of foot to shin read on one does not hold on the other.
AGREE_FULL_DEG, AGREE_NONE_DEG = 20.0, 45.0


@dataclass(frozen=True)
class ExtremityTargets:
    """Per role: target frame axes in LiftRig's world and a weight per frame."""

    aim: dict      # role -> [F, 3]
    pole: dict     # role -> [F, 3]
    weight: dict   # role -> [F] in 0..1
    sigma: float = 0.0   # frames: the temporal smoothing, for weights derived later

    def smoothed(self, values: np.ndarray) -> np.ndarray:
        """``values`` [F] smoothed over time as the weights were."""
        return _smooth(values, np.ones(len(values)), self.sigma)


def _torso_frames(left_shoulder, right_shoulder, up) -> np.ndarray:
    """Frames [F, 3, 3] (columns: up, left, up x left) of a torso."""
    return frame_from_vectors(up, left_shoulder - right_shoulder)


def _smooth(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Temporal Gaussian smoothing of ``values`` [F, ...], each frame weighted by ``weight`` [F]
    (a frame without weight takes its neighbours' values; with none near, it keeps its own)."""
    from scipy.ndimage import gaussian_filter1d

    if sigma <= 0 or len(values) < 2:
        return values
    w = weight.reshape((-1,) + (1,) * (values.ndim - 1))
    total = gaussian_filter1d(np.broadcast_to(w, values.shape).astype(np.float64), sigma,
                              axis=0, mode="nearest")
    smoothed = gaussian_filter1d(values * w, sigma, axis=0, mode="nearest")
    return np.where(total > 1e-6, smoothed / np.maximum(total, 1e-6), values)


def _ease(visibility: np.ndarray) -> np.ndarray:
    t = np.clip((visibility - NO_WEIGHT_BELOW) / (FULL_WEIGHT_FROM - NO_WEIGHT_BELOW), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def extremity_targets(world_landmarks: np.ndarray, visibility: np.ndarray, points: np.ndarray,
                      fps: float, smoothing: float = 0.5,
                      valid: np.ndarray | None = None) -> ExtremityTargets:
    """Target frames of the feet, hands and head in LiftRig's world.

    ``world_landmarks`` [F, 33, 3]: MediaPipe's world landmarks of the subject (any axes, metres);
    ``visibility`` [F, 33]; ``points`` [F, 17, 3]: the subject's cleaned points in LiftRig's world;
    ``valid`` [F]: frames where the subject was detected (others get no weight).
    """
    mp = np.asarray(world_landmarks, np.float64)
    vis = np.asarray(visibility, np.float64)
    if valid is not None:
        vis = vis * np.asarray(valid, bool)[:, None]
    p = {name: points[:, i] for name, i in J.items()}
    # 1. MediaPipe's torso frame onto ours.
    mp_up = 0.5 * (mp[:, LEFT_SHOULDER] + mp[:, RIGHT_SHOULDER]) - 0.5 * (mp[:, LEFT_HIP]
                                                                        + mp[:, RIGHT_HIP])
    ours = _torso_frames(p["LShoulder"], p["RShoulder"], p["Thorax"] - p["Pelvis"])
    theirs = _torso_frames(mp[:, LEFT_SHOULDER], mp[:, RIGHT_SHOULDER], mp_up)
    align = ours @ np.swapaxes(theirs, -1, -2)                     # [F, 3, 3]: MediaPipe -> ours

    def turned(vectors: np.ndarray) -> np.ndarray:
        """MediaPipe vectors [F, 3] in our world."""
        return np.einsum("fij,fj->fi", align, vectors)

    def agreement(parent_mp: np.ndarray, parent_ours: np.ndarray) -> np.ndarray:
        """Per frame, 1 where the two parent limbs agree, easing to 0 where they do not."""
        axis = normalize(np.einsum("fij,fj->fi", align, parent_mp))
        cos = np.clip(np.sum(axis * normalize(parent_ours), axis=-1), -1.0, 1.0)
        t = np.clip((AGREE_NONE_DEG - np.degrees(np.arccos(cos)))
                    / (AGREE_NONE_DEG - AGREE_FULL_DEG), 0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)

    sigma = (SMOOTHING_BASE_S + SMOOTHING_PER_UNIT_S * max(smoothing, 0.0)) * fps
    aims, poles, weights = {}, {}, {}
    for side, name in (("L", "left"), ("R", "right")):
        m, s = MP[side], side
        shin_mp, shin = mp[:, m["ankle"]] - mp[:, m["knee"]], p[f"{s}Ankle"] - p[f"{s}Knee"]
        foot = (turned(mp[:, m["toe"]] - mp[:, m["heel"]]),
                turned(mp[:, m["ankle"]] - mp[:, m["heel"]]),
                np.minimum(vis[:, m["heel"]], vis[:, m["toe"]]) * agreement(shin_mp, shin))
        forearm_mp, forearm = mp[:, m["wrist"]] - mp[:, m["elbow"]], p[f"{s}Wrist"] - p[f"{s}Elbow"]
        knuckles = 0.5 * (mp[:, m["index"]] + mp[:, m["pinky"]])
        hand = (turned(knuckles - mp[:, m["wrist"]]),
                turned(mp[:, m["index"]] - mp[:, m["pinky"]]),
                np.minimum.reduce([vis[:, m["wrist"]], vis[:, m["index"]], vis[:, m["pinky"]]])
                * agreement(forearm_mp, forearm))
        for role, (aim, pole, seen) in ((f"{name}-foot", foot), (f"{name}-hand", hand)):
            aims[role], poles[role], weights[role] = aim, pole, seen
    neck_mp = mp[:, NOSE] - 0.5 * (mp[:, LEFT_SHOULDER] + mp[:, RIGHT_SHOULDER])
    neck = p["Nose"] - p["Thorax"]
    ears = 0.5 * (mp[:, LEFT_EAR] + mp[:, RIGHT_EAR])
    aims["head"] = turned(mp[:, LEFT_EAR] - mp[:, RIGHT_EAR])
    poles["head"] = turned(mp[:, NOSE] - ears)
    weights["head"] = (np.minimum.reduce([vis[:, NOSE], vis[:, LEFT_EAR], vis[:, RIGHT_EAR]])
                       * agreement(neck_mp, neck))
    for role in list(aims):
        seen = weights[role]
        frame = frame_from_vectors(_smooth(normalize(aims[role]), seen, sigma),
                                   _smooth(normalize(poles[role]), seen, sigma))
        aims[role], poles[role] = frame[..., 0], frame[..., 1]
        weights[role] = np.clip(_smooth(_ease(seen), np.ones_like(seen), sigma), 0.0, 1.0)
    return ExtremityTargets(aims, poles, weights, sigma)


def rest_axes(role: str, rest_direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The axes [3] of a role's target frame on a rig at rest (LiftRig's world: Z up, facing -Y,
    the character's left at +X), from the bone's own rest direction: a foot (and its toes)
    points forward along the floor, its ankle above its heel; a hand points along its bone, the
    thumb side forward; the head's ears lie along +X, its nose forward."""
    up, forward, left = np.array([0.0, 0.0, 1.0]), np.array([0.0, -1.0, 0.0]), np.array([1.0, 0, 0])
    if role.endswith("foot") or role.endswith("toe"):
        flat = rest_direction * np.array([1.0, 1.0, 0.0])
        aim = normalize(flat) if np.linalg.norm(flat) > 1e-6 else forward
        return aim, up
    if role.endswith("hand"):
        return normalize(rest_direction), forward
    return left, forward
