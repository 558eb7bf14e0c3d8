# SPDX-License-Identifier: GPL-3.0-or-later
"""Retargeting, end to end: 2D keypoints + lifted root-relative joints -> world path -> clean
motion -> a rig's bone rotations. Plain functions that the command line, ``liftrig lift`` and
the Blender extension call.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LiftRigError
from ..formats import Joints3D
from ..h36m import JOINT_INDEX as J
from ..h36m import JOINT_NAMES, NUM_JOINTS
from ..options import RetargetOptions
from ..progress import ProgressFn, report
from .bonemap import BoundRig, bind, load_bone_map_json
from .contacts import (LEGS, FootContacts, detect_contacts, foot_contacts, foot_offsets,
                       foot_skating, lock_feet, settle_feet)
from .presets import FORWARD, PRESETS, UP, fit_builtin, preset
from .root_path import PinholeCamera, solve_root
from .smoothing import smooth
from .solver import RigPose, solve_pose
from .world import WorldFrame, world_frame

# The root path's depth is the noisiest coordinate: it is smoothed over a wider window.
ROOT_SMOOTHING_SCALE = 2.0


@dataclass(eq=False)
class RetargetResult:
    """A retargeted clip: the rig's pose and the world points it follows."""

    pose: RigPose                 # on the target rig; pose.rotations / pose.location for Blender
    world: np.ndarray             # float32 [F, 17, 3]: the cleaned points (metres, Z up)
    world_raw: np.ndarray         # float32 [F, 17, 3]: before smoothing and foot locking
    contacts: np.ndarray          # bool [F, 2]: left, right foot planted
    fps: float
    foot_contacts: FootContacts | None = None   # heels' and balls' contacts (a rolling contact)
    world_frame: WorldFrame | None = None   # camera -> world, when the input was camera space
    skating_raw: float = 0.0      # m/s, mean horizontal ankle speed in contact, raw points
    skating: float = 0.0          # m/s, the same for the cleaned points

    def summary(self) -> str:
        s = (f"{len(self.world)} frames at {self.fps:g} fps on rig {self.pose.rig.name!r}; "
             f"foot contacts {self.contacts.mean():.0%} of frames")
        if self.skating_raw > 0:
            s += (f"; foot skating {self.skating_raw * 100:.1f} -> {self.skating * 100:.1f} cm/s "
                  f"({(1 - self.skating / self.skating_raw):.0%} less)")
        return s


def load_rig(spec: str, points: np.ndarray | None = None) -> BoundRig:
    """``builtin`` (fitted to ``points``), a preset name, or a JSON bone map with a skeleton."""
    if spec in PRESETS:
        return preset(spec, points)
    path = Path(spec)
    if path.suffix.lower() != ".json":
        raise LiftRigError(f"--rig {spec!r}: use one of {', '.join(PRESETS)} or a .json bone map")
    if not path.is_file():
        raise LiftRigError(f"bone map not found: {path}")
    bone_map, rig = load_bone_map_json(path)
    if rig is None:
        raise LiftRigError(f'{path}: writing a BVH needs the rig\'s bones: add "skeleton": '
                           '{BONE: {"parent": ..., "head": [x, y, z], "tail": [x, y, z]}}')
    return bind(rig, bone_map)


def place_in_world(clip: Joints3D, options: RetargetOptions):
    """Solve the root path and the floor: (world points [F, 17, 3], WorldFrame)."""
    kp = clip.keypoints
    rel = _fill_gaps(np.asarray(clip.joints, np.float64))
    rel = rel - rel[:, :1]                           # root-relative, whatever the lifter gave
    if options.focal_px:
        w, h = kp.size
        camera = PinholeCamera(float(options.focal_px), w / 2.0, h / 2.0)
    else:
        camera = PinholeCamera.from_fov(kp.size, options.fov_deg)
    root = solve_root(kp.keypoints, kp.scores, rel, camera, kp.valid)
    points_camera = rel + root[:, None]
    frame = world_frame(points_camera, kp.fps, options.facing, options.ankle_height)
    return frame.apply(points_camera), frame


def _fill_gaps(points: np.ndarray) -> np.ndarray:
    """Joints missing (NaN) in some frames [F, J, 3], interpolated from the frames around."""
    bad = ~np.isfinite(points).all(axis=-1)                    # [F, J]
    if not bad.any():
        return points
    if bad.all(axis=0).any():
        raise LiftRigError(f"joint {JOINT_NAMES[int(np.flatnonzero(bad.all(axis=0))[0])]} has no "
                           "finite 3D position in any frame")
    out = points.copy()
    frames = np.arange(len(points))
    for j in np.flatnonzero(bad.any(axis=0)):
        ok = ~bad[:, j]
        for axis in range(3):
            out[~ok, j, axis] = np.interp(frames[~ok], frames[ok], points[ok, j, axis])
    return out


def clean_world_points(world: np.ndarray, fps: float, options: RetargetOptions,
                       progress: ProgressFn | None = None, landmarks=None):
    """Smooth, fit LiftRig's skeleton (constant bone lengths), plant the feet: by their heels
    and balls where ``landmarks`` (see :func:`retarget_points`) give the feet's orientation.

    Returns (points [F, 17, 3], contacts [F, 2], the fitted skeleton, :class:`FootContacts` or
    None).
    """
    world = np.asarray(world, np.float64)
    pelvis = world[:, :1]
    smoothed = (smooth(world - pelvis, fps, options.smoothing)
                + smooth(pelvis, fps, options.smoothing, ROOT_SMOOTHING_SCALE))
    report(progress, "retarget: fitting the skeleton", 1, 4)
    skeleton = fit_builtin(smoothed)
    fitted = solve_pose(skeleton, smoothed).points()
    contacts = detect_contacts(fitted, fps)
    report(progress, "retarget: planting the feet", 2, 4)
    feet = None
    if options.foot_lock:
        targets = _extremity_targets(fitted, fps, options, landmarks)
        if targets is not None:
            feet = foot_contacts(fitted, *_skeleton_feet(skeleton, fitted, targets), fps)
            settled = _extremity_targets(fitted, fps, options, landmarks, feet)
            feet = dataclasses.replace(feet, offsets=foot_offsets(
                fitted, *_skeleton_feet(skeleton, fitted, settled)[:2]))
        if contacts.any() or (feet is not None and feet.contacts.any()):
            locked = solve_pose(skeleton, lock_feet(fitted, contacts, fps, feet=feet)).points()
            if feet is not None:
                # Locking moved the shins, and with them the feet where the landmarks turn them
                # only in part: plant the feet as the locked body carries them.
                again = _extremity_targets(locked, fps, options, landmarks, feet)
                feet = dataclasses.replace(feet, offsets=foot_offsets(
                    locked, *_skeleton_feet(skeleton, locked, again)[:2]))
                locked = solve_pose(skeleton, lock_feet(fitted, contacts, fps, feet=feet)).points()
            fitted = locked
    if not options.root_motion:
        fitted[:, :, :2] -= fitted[:, :1, :2]
    return fitted, contacts, skeleton, feet


def _extremity_targets(points: np.ndarray, fps: float, options: RetargetOptions, landmarks,
                       feet: FootContacts | None = None):
    """The feet's, hands' and head's targets (:mod:`.extremities`) for these points, or None
    where there are no landmarks or the extremities are off; with ``feet``, as they touch the
    floor (:func:`.contacts.settle_feet`: still while flat, the toes flat while the ball is down)."""
    if not options.extremities or landmarks is None:
        return None
    from .extremities import extremity_targets

    targets = extremity_targets(*landmarks[:2], points, fps, options.smoothing, valid=landmarks[2])
    if feet is None:
        return targets
    sides = {"left-foot": 0, "right-foot": 1}
    return settle_feet(targets, {r: feet.contacts[:, k, 0] for r, k in sides.items()},
                       {r: feet.contacts[:, k, 1] for r, k in sides.items()}, fps)


def _skeleton_feet(skeleton: BoundRig, points: np.ndarray, targets
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The feet of LiftRig's skeleton posed on ``points`` with ``targets``, as the animation will
    carry them (turned by the landmarks where they are seen, with the shin where they are not):
    their frames (aims along the foot, ups from the sole [F, 2, 3]) and weights (all known)."""
    aims, ups = _feet_axes(solve_pose(skeleton, points, targets))
    return aims, ups, np.ones(aims.shape[:2])


def _feet_axes(pose: RigPose) -> tuple[np.ndarray, np.ndarray]:
    """The feet's frames of a pose of LiftRig's skeleton: aims and ups [F, 2, 3]."""
    turns = np.stack([pose.world_rotations[:, pose.rig.index(ankle)] for _, _, ankle, _ in LEGS],
                     1)                                                          # [F, 2, 3, 3]
    return np.einsum("fkij,j->fki", turns, FORWARD), np.einsum("fkij,j->fki", turns, UP)


def foot_parts(pose: RigPose) -> np.ndarray:
    """Where the heels and balls of the feet of a pose of LiftRig's skeleton are, [F, 2 legs,
    2 parts, 3] (:data:`.contacts.FOOT_PARTS`): what a rolling contact plants."""
    points = pose.points()
    ankles = np.stack([points[:, J[ankle]] for _, _, ankle, _ in LEGS], 1)       # [F, 2, 3]
    return ankles[:, :, None] + foot_offsets(points, *_feet_axes(pose))


def retarget_points(world: np.ndarray, fps: float, options: RetargetOptions = RetargetOptions(),
                    rig: BoundRig | str = "builtin",
                    progress: ProgressFn | None = None, landmarks=None) -> RetargetResult:
    """Retarget world points [F, 17, 3] (metres, Z up, floor Z = 0) onto ``rig``.

    ``landmarks``: ``(world_landmarks [F, 33, 3], visibility [F, 33], valid [F])`` of MediaPipe,
    which turn the rig's feet, hands and head (:mod:`.extremities`) unless
    ``options.extremities`` is off."""
    world = np.asarray(world, np.float64)
    if world.ndim != 3 or world.shape[1:] != (NUM_JOINTS, 3) or len(world) < 1:
        raise LiftRigError(f"expected points of shape [F >= 1, {NUM_JOINTS}, 3], "
                           f"got {list(world.shape)}")
    if not np.isfinite(world).all():
        raise LiftRigError("the 3D joints contain NaN or infinite values")
    points, contacts, skeleton, feet = clean_world_points(world, fps, options, progress, landmarks)
    report(progress, "retarget: solving the rig", 3, 4)
    if isinstance(rig, str):
        rig = skeleton if rig == "builtin" else load_rig(rig)
    target = points
    if rig is not skeleton and rig.bone_map.name != "builtin":
        target = points * _leg_scale(rig, skeleton)     # the rig's own stride and hip height
    pose = solve_pose(rig, target, _extremity_targets(points, fps, options, landmarks, feet))
    report(progress, "retarget: solving the rig", 4, 4)
    return RetargetResult(
        pose=pose, world=points.astype(np.float32), world_raw=world.astype(np.float32),
        contacts=contacts, fps=fps, foot_contacts=feet,
        skating_raw=foot_skating(world, contacts, fps),
        skating=foot_skating(points, contacts, fps))


def _leg_scale(rig: BoundRig, skeleton: BoundRig) -> float:
    """The rig's leg length over the subject's: root motion scales by it so feet stay planted."""
    def leg(rest: np.ndarray) -> float:
        hip, knee, ankle = (rest[J[n]] for n in LEGS[0][:3])
        return float(np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee))
    rig_leg = leg(rig.rest_points)
    if not np.isfinite(rig_leg) or rig_leg <= 0:
        return 1.0
    return rig_leg / leg(skeleton.rest_points)


def retarget_clip(clip: Joints3D, options: RetargetOptions = RetargetOptions(),
                  rig: BoundRig | str = "builtin",
                  progress: ProgressFn | None = None) -> RetargetResult:
    """The whole stage: a clip's lifted joints (root-relative, camera space) and the 2D keypoints
    they came from -> a :class:`RetargetResult` on ``rig``."""
    report(progress, "retarget: placing the subject in the world", 0, 4)
    world, frame = place_in_world(clip, options)
    kp = clip.keypoints
    landmarks = None
    if kp.world_landmarks is not None and kp.landmarks is not None:
        landmarks = (kp.world_landmarks, kp.landmarks[..., 3], kp.valid)
    result = retarget_points(world, kp.fps, options, rig, progress, landmarks)
    result.world_frame = frame
    return result
