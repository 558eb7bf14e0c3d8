# SPDX-License-Identifier: GPL-3.0-or-later
"""Foot contacts, foot skating, and foot locking on world points (metres, Z up, floor Z = 0).

A foot is in contact while its ankle is low and slow. Locking plants it at one spot per contact
(blending in and out), moves the whole body by the planted feet's average slip so the legs need
not stretch, lowers the pelvis where a leg could not reach, and re-solves each leg with two-bone
IK whose knee keeps its bend plane, so knees neither pop nor flip.

Where the feet's orientation is known (:mod:`.extremities`), the contact rolls: the heel and the
ball of the foot each have their own contacts and their own spots, so a heel strike pins the heel
while the foot comes down, and at toe-off the foot turns about its planted ball while the heel
rises (:class:`FootContacts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_closing, binary_opening, maximum_filter1d, minimum_filter1d

from ..h36m import JOINT_INDEX as J
from .extremities import TOES, ExtremityTargets
from .mocap_map import ANKLE_HEIGHT_PER_SHIN
from .rotations import frame_from_vectors, normalize
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


# Where a foot meets the floor, in its own frame (forward along heel -> toe, up from the sole), as
# shares of the shin: the heel 5 cm behind the ankle and the ball of the foot (where the toes
# bend) 13 cm ahead of it, on LiftRig's canonical body (0.41 m shin, presets.canonical_points),
# both at the floor, the ankle ANKLE_HEIGHT_PER_SHIN above it. That foot is 0.59 shins long
# (heel to toe tip), as adults' are (foot 0.152 and shin 0.246 of stature, Drillis & Contini).
HEEL_IN_FOOT = (-0.05 / 0.41, -ANKLE_HEIGHT_PER_SHIN)
BALL_IN_FOOT = (0.13 / 0.41, -ANKLE_HEIGHT_PER_SHIN)
FOOT_PARTS = ("heel", "ball")

# Smoothing strength for the body's own speed in contact detection (2.5: about one second).
BODY_SPEED_SMOOTHING = 2.5


def contact_signals(points: np.ndarray, fps: float, feet: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Each foot's height above the local floor (m) and horizontal speed (m/s): [F, 2] each.
    ``feet`` [F, 2, 3]: the left and right points to read (default: the ankles; the heels or
    the balls of the feet for a rolling contact).

    The root path's jitter (mostly depth) is common to both feet, so neither signal uses it
    raw: a foot's speed is its speed relative to the pelvis plus the pelvis's speed smoothed
    over about a second, and its height is measured from a local floor, the lower foot's
    height through a rolling minimum of about a second.
    """
    pelvis = points[:, J["Pelvis"]]
    body_velocity = time_derivative(smooth(pelvis[:, :2], fps, BODY_SPEED_SMOOTHING))
    ankles = (np.stack([points[:, J[leg[2]]] for leg in LEGS], 1)              # [F, 2, 3]
              if feet is None else np.asarray(feet, np.float64))
    heights = smooth(ankles[:, :, 2], fps, 0.4)
    lower = heights.min(axis=1)
    window = 2 * int(round(0.5 * fps)) + 1
    heights = heights - smooth(minimum_filter1d(lower, window, mode="nearest"), fps, 1.0)[:, None]
    relative = time_derivative(smooth(ankles[:, :, :2] - pelvis[:, None, :2], fps, 0.4))
    speeds = np.linalg.norm(relative + body_velocity[:, None], axis=-1) * fps
    return heights, speeds


def detect_contacts(points: np.ndarray, fps: float,
                    settings: ContactSettings = ContactSettings(),
                    feet: np.ndarray | None = None) -> np.ndarray:
    """bool [F, 2]: the left and right foot (``feet``: see :func:`contact_signals`) touch the
    floor (low and slow), without contacts or gaps shorter than ``settings.min_seconds``."""
    heights, speeds = contact_signals(points, fps, feet)
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


def part_skating(parts: np.ndarray, contacts: np.ndarray, fps: float) -> np.ndarray:
    """Mean horizontal speed (m/s) of each foot part [F, 2 legs, P parts, 3] over consecutive
    frames where it is in contact (bool [F, 2, P]), both legs together: [P]."""
    step = np.linalg.norm(np.diff(parts[..., :2], axis=0), axis=-1) * fps      # [F - 1, 2, P]
    held = contacts[1:] & contacts[:-1]
    return np.array([step[..., p][held[..., p]].mean() if held[..., p].any() else 0.0
                     for p in range(parts.shape[2])])


def knee_angles(points: np.ndarray) -> np.ndarray:
    """Knee flexion in degrees [F, 2] (0 = straight)."""
    out = []
    for hip, knee, ankle, _ in LEGS:
        thigh = normalize(points[:, J[knee]] - points[:, J[hip]])
        shin = normalize(points[:, J[ankle]] - points[:, J[knee]])
        out.append(np.degrees(np.arccos(np.clip(np.sum(thigh * shin, -1), -1, 1))))
    return np.stack(out, -1)


# Planting eases in over a contact's first frames and out over its last (seconds).
BLEND_SECONDS = 0.067


def _blend_frames(fps: float, blend_seconds: float = BLEND_SECONDS) -> int:
    return max(1, int(round(blend_seconds * fps)))


def _plant_targets(positions: np.ndarray, contact: np.ndarray, blend: int):
    """Per frame, where a point of the foot should be [F, 3] and how firmly [F].

    One spot per contact (the median of its middle part); the weight eases in over the
    contact's first ``blend`` frames and out over its last, inside the contact, where the foot
    is already slow, so a swinging foot is never dragged. A contact already under way when the
    clip starts (or still when it ends) is planted from the first frame (to the last).
    """
    target = positions.copy()
    weight = np.zeros(len(positions))
    for start, stop in contact_intervals(contact):
        n = stop - start
        ease = min(blend, n // 2)
        ramp = (np.arange(n) + 1.0) / (ease + 1) if ease else np.ones(n)
        ease_in = ramp if start > 0 else np.ones(n)
        ease_out = ramp[::-1] if stop < len(positions) else np.ones(n)
        ramp = np.minimum(np.minimum(ease_in, ease_out), 1.0)
        ramp = ramp * ramp * (3 - 2 * ramp)                                 # smoothstep
        core = slice(start + ease, stop - ease) if n > 2 * ease else slice(start, stop)
        target[start:stop] = np.median(positions[core], axis=0)
        weight[start:stop] = ramp
    return target, weight


def planted_weight(contact: np.ndarray, fps: float) -> np.ndarray:
    """How firmly a point with these contacts (bool [F]) is planted per frame, 0..1: eased in
    and out as :func:`lock_feet` eases it."""
    return _plant_targets(np.zeros((len(contact), 3)), contact, _blend_frames(fps))[1]


@dataclass(frozen=True)
class FootContacts:
    """What a rolling contact needs, per leg (left, right) and part (:data:`FOOT_PARTS`: heel,
    ball): where the part is from its ankle (``offsets`` [F, 2, 2, 3]), whether it touches the
    floor (``contacts`` bool [F, 2, 2]), and how far the foot's orientation is known
    (``weight`` [F, 2]; where it is 0, the ankle alone is planted)."""

    offsets: np.ndarray
    contacts: np.ndarray
    weight: np.ndarray


def foot_offsets(points: np.ndarray, aims: np.ndarray, ups: np.ndarray) -> np.ndarray:
    """Where each foot's heel and ball are from its ankle [F, 2, 2, 3], for feet whose frames are
    ``aims`` [F, 2, 3] (heel -> toe) and ``ups`` [F, 2, 3] (up from the sole, perpendicular to the
    aim), on a foot the size of the subject's (its shins, :data:`HEEL_IN_FOOT`)."""
    shin = np.median([np.linalg.norm(points[:, J[a]] - points[:, J[k]], axis=-1)
                      for _, k, a, _ in LEGS])
    return np.stack([shin * (along * aims + up * ups)
                     for along, up in (HEEL_IN_FOOT, BALL_IN_FOOT)], 2)


def foot_contacts(points: np.ndarray, aims: np.ndarray, ups: np.ndarray, weight: np.ndarray,
                  fps: float, settings: ContactSettings = ContactSettings()) -> FootContacts:
    """The heels' and balls' contacts (each low and slow, :func:`detect_contacts`) of feet whose
    frames are known (:func:`foot_offsets`) by ``weight`` [F, 2]."""
    ankles = np.stack([points[:, J[leg[2]]] for leg in LEGS], 1)                 # [F, 2, 3]
    offsets = foot_offsets(points, aims, ups)
    contacts = np.stack([detect_contacts(points, fps, settings, ankles + offsets[:, :, p])
                         for p in range(len(FOOT_PARTS))], 2)                    # [F, 2, 2]
    return FootContacts(offsets, contacts, np.clip(weight, 0.0, 1.0))


@dataclass(frozen=True)
class _Plant:
    """One planted point of a foot: its spot [F, 3], its offset from the ankle [F, 3], how
    firmly it is planted [F], and whether its height is pinned too."""

    spot: np.ndarray
    offset: np.ndarray
    weight: np.ndarray
    pin_height: bool


def _run_length(contact: np.ndarray) -> int:
    """How many frames a contact (bool [F]) lasts from its first frame."""
    off = np.flatnonzero(~contact)
    return int(off[0]) if len(off) else len(contact)


def _leg_plants(ankle: np.ndarray, contact: np.ndarray, blend: int, leg: int,
                feet: FootContacts | None) -> list[_Plant]:
    """The ankle, planted by the leg's contacts where the foot's orientation is not known, and
    the heel and ball, each by its own contacts where it is (:func:`_chain_spots`)."""
    known = np.zeros(len(ankle)) if feet is None else feet.weight[:, leg]
    spot, weight = _plant_targets(ankle, contact, blend)
    plants = [_Plant(spot, np.zeros_like(ankle), weight * (1.0 - known), False)]
    if feet is not None:
        offsets = feet.offsets[:, leg]                                           # [F, 2, 3]
        parts = [_plant_targets(ankle + offsets[:, p], feet.contacts[:, leg, p], blend)
                 for p in range(len(FOOT_PARTS))]
        spots = _chain_spots([spot for spot, _ in parts], feet.contacts[:, leg], offsets)
        plants += [_Plant(spots[p], offsets[:, p], parts[p][1] * known, True)
                   for p in range(len(FOOT_PARTS))]
    return plants


def _chain_spots(spots: list[np.ndarray], contacts: np.ndarray, offsets: np.ndarray
                 ) -> list[np.ndarray]:
    """Heel and ball spots [F, 3] that agree: a part that comes down while the other is already
    planted (the ball after a heel strike, the heel after landing on the toes) is planted where
    the foot puts it from the other's spot (the median of the two parts' offset over the frames
    both are down), not at its own median, so the foot never has to stretch between two spots
    and a heel strike rolls into toe-off about one chain of pivots."""
    spots = [spot.copy() for spot in spots]
    runs = sorted((start, p, stop) for p in range(len(spots))
                  for start, stop in contact_intervals(contacts[:, p]))
    for start, p, stop in runs:
        q = 1 - p
        other_first = contacts[start, q] and start > 0 and contacts[start - 1, q]
        if contacts[start, q] and not other_first:       # down together: the longer contact
            mine, other = (_run_length(contacts[start:, k]) for k in (p, q))   # anchors
            other_first = other > mine or (other == mine and FOOT_PARTS[q] == "heel")
        if not other_first:
            continue
        both = np.flatnonzero(contacts[start:stop, q]) + start
        between = np.median(offsets[both, p] - offsets[both, q], axis=0)
        spots[p][start:stop] = spots[q][start] + between
    return spots


def _correction(ankle: np.ndarray, plants: list[_Plant]) -> tuple[np.ndarray, np.ndarray]:
    """How far the ankle should move [F, 3] so its planted points reach their spots (their
    weighted mean), and how firmly [F] in 0..1. The ankle alone keeps its own height (the heel
    still rises as the foot rolls); a planted heel or ball is held at its height as well."""
    total = np.zeros(len(ankle))
    moved = np.zeros_like(ankle)
    for plant in plants:
        gap = plant.spot - (ankle + plant.offset)
        if not plant.pin_height:
            gap[:, 2] = 0.0
        moved += plant.weight[:, None] * gap
        total += plant.weight
    return moved / np.maximum(total, 1e-9)[:, None], np.minimum(total, 1.0)


def settle_feet(targets: ExtremityTargets, heel: dict, ball: dict, fps: float
                ) -> ExtremityTargets:
    """``targets`` as the feet touch the floor (``heel``, ``ball``: foot role -> bool [F], that
    part's contacts): while heel and ball are both down the foot lies still, its frame held at
    its median over that contact; while the ball is down its toes lie flat on the floor,
    pointing where the foot points (the toes' roles, :data:`.extremities.TOES`), so that at toe-off the foot
    turns about its ball while the toes stay down. Both ease in and out as the contacts do
    (:func:`planted_weight`); elsewhere the toes keep their rest pose relative to the foot."""
    aims, poles, weights = dict(targets.aim), dict(targets.pole), dict(targets.weight)
    up = np.array([0.0, 0.0, 1.0])
    for foot, toe in TOES.items():
        flat = heel[foot] & ball[foot]
        still_aim, still_pole = aims[foot].copy(), poles[foot].copy()
        for start, stop in contact_intervals(flat):
            still_aim[start:stop] = normalize(np.median(aims[foot][start:stop], axis=0))
            still_pole[start:stop] = normalize(np.median(poles[foot][start:stop], axis=0))
        hold = planted_weight(flat, fps)[:, None]
        frame = frame_from_vectors((1 - hold) * aims[foot] + hold * still_aim,
                                   (1 - hold) * poles[foot] + hold * still_pole)
        aims[foot], poles[foot] = frame[..., 0], frame[..., 1]
        along_floor = aims[foot] * np.array([1.0, 1.0, 0.0])
        length = np.linalg.norm(along_floor, axis=-1, keepdims=True)
        aims[toe] = np.where(length > 1e-6, along_floor / np.maximum(length, 1e-9), aims[foot])
        poles[toe] = np.broadcast_to(up, along_floor.shape)
        weights[toe] = planted_weight(ball[foot], fps) * targets.weight[foot]
    return ExtremityTargets(aims, poles, weights, targets.sigma)


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


def _goal(ankle: np.ndarray, plants: list[_Plant]) -> tuple[np.ndarray, np.ndarray]:
    """Where the ankle goes [F, 3], and how firmly it is planted [F]."""
    move, weight = _correction(ankle, plants)
    return ankle + weight[:, None] * move, weight


def lock_feet(points: np.ndarray, contacts: np.ndarray, fps: float,
              blend_seconds: float = BLEND_SECONDS, soft: float = 0.98,
              feet: FootContacts | None = None) -> np.ndarray:
    """Points [F, 17, 3] with each foot planted during its contacts [F, 2]; with ``feet``, by
    its heel and ball where the foot's orientation is known (a rolling contact)."""
    pts = np.array(points, np.float64, copy=True)
    frames = len(pts)
    blend = _blend_frames(fps, blend_seconds)
    plants = [_leg_plants(pts[:, J[ankle]], contacts[:, k], blend, k, feet)
              for k, (_, _, ankle, _) in enumerate(LEGS)]

    # 1. Move the body with the planted feet: the weighted mean slip, horizontal, smoothed.
    slip = np.zeros((frames, 2))
    total = np.zeros(frames)
    for k, (_, _, ankle, _) in enumerate(LEGS):
        move, weight = _correction(pts[:, J[ankle]], plants[k])
        slip += weight[:, None] * move[:, :2]
        total += weight
    shift = slip / np.maximum(total, 1e-9)[:, None] * np.minimum(total, 1.0)[:, None]
    shift = smooth(shift, fps, 0.6)
    pts[:, :, :2] += shift[:, None]

    # 2. Lower the pelvis where a planted leg could not reach its spot.
    hinges = [limb_hinge(pts, rule) for _, _, _, rule in LEGS]
    drop = np.zeros(frames)
    for k, (hip, knee, ankle, _) in enumerate(LEGS):
        goal, weight = _goal(pts[:, J[ankle]], plants[k])
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
        goal, weight = _goal(pts[:, J[ankle]], plants[k])
        active = weight > 0
        if not active.any():
            continue
        upper = np.linalg.norm(pts[:, J[knee]] - pts[:, J[hip]], axis=-1)
        lower = np.linalg.norm(pts[:, J[ankle]] - pts[:, J[knee]], axis=-1)
        new_knee, new_ankle = two_bone_ik(pts[:, J[hip]], goal, upper, lower, hinges[k], soft)
        pts[active, J[knee]] = new_knee[active]
        pts[active, J[ankle]] = new_ankle[active]
    return pts
