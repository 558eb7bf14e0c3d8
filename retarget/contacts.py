# SPDX-License-Identifier: GPL-3.0-or-later
"""Foot contacts, foot skating, and foot locking on world points (metres, Z up, floor Z = 0).

A foot is in contact while its ankle is low and slow. Locking plants it at one spot per contact
(blending in and out), moves the whole body by the planted feet's average slip so the legs need
not stretch, lowers the pelvis where a leg could not reach, and re-solves each leg with two-bone
IK whose knee keeps its bend plane, so knees neither pop nor flip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_closing, binary_opening, maximum_filter1d, minimum_filter1d

from ..h36m import JOINT_INDEX as J
from .rotations import normalize
from .smoothing import smooth, time_derivative
from .solver import limb_hinge

# (hip, knee, ankle, hinge rule) per foot; contacts arrays are [F, 2] in this order.
LEGS = (("LHip", "LKnee", "LAnkle", "left-leg"), ("RHip", "RKnee", "RAnkle", "right-leg"))


@dataclass(frozen=True)
class ContactSettings:
    """Thresholds for :func:`detect_contacts` (tuned on walks with lifter-like noise)."""

    # A foot is low and slow: below these, which grow to the given shares of the clip's
    # swing values (95th percentiles) so noisier footage keeps finding its contacts.
    height: float = 0.05          # metres above the local floor
    speed: float = 0.35           # horizontal metres per second
    height_share: float = 0.6
    speed_share: float = 0.3
    min_seconds: float = 0.1      # shorter contacts, and shorter gaps between them, are dropped


# Smoothing strength for the body's own speed in contact detection (2.5: about one second).
BODY_SPEED_SMOOTHING = 2.5


def contact_signals(points: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Each foot's height above the local floor (m) and horizontal speed (m/s): [F, 2] each.

    The root path's jitter (mostly depth) is common to both feet, so neither signal uses it
    raw: a foot's speed is its speed relative to the pelvis plus the pelvis's speed smoothed
    over about a second, and its height is measured from a local floor, the lower foot's
    height through a rolling minimum of about a second.
    """
    pelvis = points[:, J["Pelvis"]]
    body_velocity = time_derivative(smooth(pelvis[:, :2], fps, BODY_SPEED_SMOOTHING))
    ankles = np.stack([points[:, J[leg[2]]] for leg in LEGS], 1)                 # [F, 2, 3]
    heights = smooth(ankles[:, :, 2], fps, 0.4)
    lower = heights.min(axis=1)
    window = 2 * int(round(0.5 * fps)) + 1
    heights = heights - smooth(minimum_filter1d(lower, window, mode="nearest"), fps, 1.0)[:, None]
    relative = time_derivative(smooth(ankles[:, :, :2] - pelvis[:, None, :2], fps, 0.4))
    speeds = np.linalg.norm(relative + body_velocity[:, None], axis=-1) * fps
    return heights, speeds


def detect_contacts(points: np.ndarray, fps: float,
                    settings: ContactSettings = ContactSettings()) -> np.ndarray:
    """bool [F, 2]: the left and right foot touch the floor (low and slow, see
    :func:`contact_signals`), without contacts or gaps shorter than ``settings.min_seconds``."""
    heights, speeds = contact_signals(points, fps)
    max_height = np.maximum(settings.height, settings.height_share * np.percentile(heights, 95, 0))
    max_speed = np.maximum(settings.speed, settings.speed_share * np.percentile(speeds, 95, 0))
    raw = (heights < max_height) & (speeds < max_speed)
    span = max(1, int(round(settings.min_seconds * fps)))
    structure = np.ones((span + 1, 1), bool)
    padded = np.pad(raw, ((span, span), (0, 0)))
    cleaned = binary_opening(binary_closing(padded, structure), structure)
    return cleaned[span:-span]


def contact_intervals(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in a bool [F] as (start, stop) with stop exclusive."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def foot_skating(points: np.ndarray, contacts: np.ndarray, fps: float) -> float:
    """Mean horizontal ankle speed (m/s) over consecutive frames where that foot is in contact."""
    total, count = 0.0, 0
    for k, (_, _, ankle, _) in enumerate(LEGS):
        step = np.linalg.norm(np.diff(points[:, J[ankle], :2], axis=0), axis=-1) * fps
        both = contacts[1:, k] & contacts[:-1, k]
        total += step[both].sum()
        count += int(both.sum())
    return total / count if count else 0.0


def knee_angles(points: np.ndarray) -> np.ndarray:
    """Knee flexion in degrees [F, 2] (0 = straight)."""
    out = []
    for hip, knee, ankle, _ in LEGS:
        thigh = normalize(points[:, J[knee]] - points[:, J[hip]])
        shin = normalize(points[:, J[ankle]] - points[:, J[knee]])
        out.append(np.degrees(np.arccos(np.clip(np.sum(thigh * shin, -1), -1, 1))))
    return np.stack(out, -1)


def _plant_targets(ankles: np.ndarray, contact: np.ndarray, blend: int):
    """Per frame, where a foot should be on the floor plane [F, 2] and how firmly [F].

    One spot per contact (the median of its middle part); the weight eases in over the
    contact's first ``blend`` frames and out over its last, inside the contact, where the foot
    is already slow, so a swinging foot is never dragged.
    """
    target = ankles[:, :2].copy()
    weight = np.zeros(len(ankles))
    for start, stop in contact_intervals(contact):
        n = stop - start
        ease = min(blend, n // 2)
        ramp = (np.arange(n) + 1.0) / (ease + 1) if ease else np.ones(n)
        ramp = np.minimum(np.minimum(ramp, ramp[::-1]), 1.0)
        ramp = ramp * ramp * (3 - 2 * ramp)                                 # smoothstep
        core = slice(start + ease, stop - ease) if n > 2 * ease else slice(start, stop)
        target[start:stop] = np.median(ankles[core, :2], axis=0)
        weight[start:stop] = ramp
    return target, weight


def two_bone_ik(hip: np.ndarray, target: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                hinge: np.ndarray, soft: float = 0.98) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle [F, 3] reaching from ``hip`` toward ``target`` with segment lengths
    ``upper``, ``lower`` [F]; the knee bends about ``hinge`` [F, 3] (the bend plane's normal).

    Beyond ``soft`` of full reach the distance eases toward full length instead of snapping
    straight, so the knee never pops; the ankle then stops a little short of the target.
    """
    reach = upper + lower
    offset = target - hip
    d = np.linalg.norm(offset, axis=-1)
    start = soft * reach
    over = np.maximum(d - start, 0.0)
    room = reach - start
    eased = np.where(d > start, start + room * (1.0 - np.exp(-over / np.maximum(room, 1e-9))), d)
    d = np.clip(eased, np.abs(upper - lower) + 1e-6, reach * 0.99999)
    axis = normalize(offset)
    bend = normalize(np.cross(axis, hinge))                   # toward where the knee points
    along = (upper ** 2 - lower ** 2 + d ** 2) / (2 * d)
    out = np.sqrt(np.maximum(upper ** 2 - along ** 2, 0.0))
    knee = hip + along[:, None] * axis + out[:, None] * bend
    ankle = hip + d[:, None] * axis
    return knee, ankle


def _goal(ankle: np.ndarray, spot: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Where the ankle goes [F, 3]: toward its spot on the floor plane by ``weight``; its
    height stays its own (the heel still rises as the foot rolls)."""
    goal = ankle.copy()
    goal[:, :2] += weight[:, None] * (spot - ankle[:, :2])
    return goal


def lock_feet(points: np.ndarray, contacts: np.ndarray, fps: float,
              blend_seconds: float = 0.067, soft: float = 0.98) -> np.ndarray:
    """Points [F, 17, 3] with each foot planted during its contacts [F, 2]."""
    pts = np.array(points, np.float64, copy=True)
    frames = len(pts)
    blend = max(1, int(round(blend_seconds * fps)))
    plants = [_plant_targets(pts[:, J[ankle]], contacts[:, k], blend)
              for k, (_, _, ankle, _) in enumerate(LEGS)]

    # 1. Move the body with the planted feet: the weighted mean slip, horizontal, smoothed.
    slip = np.zeros((frames, 2))
    total = np.zeros(frames)
    for k, (target, weight) in enumerate(plants):
        slip += weight[:, None] * (target - pts[:, J[LEGS[k][2]], :2])
        total += weight
    shift = slip / np.maximum(total, 1e-9)[:, None] * np.minimum(total, 1.0)[:, None]
    shift = smooth(shift, fps, 0.6)
    pts[:, :, :2] += shift[:, None]

    # 2. Lower the pelvis where a planted leg could not reach its spot.
    hinges = [limb_hinge(pts, rule) for _, _, _, rule in LEGS]
    drop = np.zeros(frames)
    for k, (hip, knee, ankle, _) in enumerate(LEGS):
        goal = _goal(pts[:, J[ankle]], *plants[k])
        weight = plants[k][1]
        upper = np.linalg.norm(pts[:, J[knee]] - pts[:, J[hip]], axis=-1)
        lower = np.linalg.norm(pts[:, J[ankle]] - pts[:, J[knee]], axis=-1)
        delta = pts[:, J[hip]] - goal
        room = (upper + lower) ** 2 - np.sum(delta[:, :2] ** 2, -1)
        need = delta[:, 2] - np.sqrt(np.maximum(room, 0.0))
        drop = np.maximum(drop, np.where(weight > 0, need, 0.0))
    drop = np.maximum(drop, 0.0)
    if drop.any():
        widen = max(1, int(round(0.15 * fps)))
        drop = smooth(maximum_filter1d(drop, 2 * widen + 1), fps, 0.6)
        pts[:, :, 2] -= np.maximum(drop, 0.0)[:, None]

    # 3. Each leg reaches its (blended) spot by two-bone IK in its own bend plane.
    for k, (hip, knee, ankle, _) in enumerate(LEGS):
        active = plants[k][1] > 0
        if not active.any():
            continue
        goal = _goal(pts[:, J[ankle]], *plants[k])
        upper = np.linalg.norm(pts[:, J[knee]] - pts[:, J[hip]], axis=-1)
        lower = np.linalg.norm(pts[:, J[ankle]] - pts[:, J[knee]], axis=-1)
        new_knee, new_ankle = two_bone_ik(pts[:, J[hip]], goal, upper, lower, hinges[k], soft)
        pts[active, J[knee]] = new_knee[active]
        pts[active, J[ankle]] = new_ankle[active]
    return pts
