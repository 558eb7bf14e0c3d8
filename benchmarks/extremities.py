# SPDX-License-Identifier: GPL-3.0-or-later
"""Feet, hands and head on the shared real clips: how often they are driven, how far they turn
from their parent, and their jitter against MediaPipe's own world landmarks.

For each clip: MediaPipe (the shared model) -> the default lifter -> LiftRig's skeleton, with
the extremities on. Per extremity:
  driven     share of frames whose landmark weight is over 0.5 (visible, and MediaPipe's parent
             limb agreeing with ours);
  turn       median degrees the bone is turned from its rest pose relative to its parent;
  jitter     median angular acceleration (degrees / frame^2, at 30 fps) of the extremity's
             direction (heel -> toe, wrist -> knuckles, right ear -> left ear): LiftRig's bone
             against MediaPipe's raw world landmarks, on the frames both have.

Foot skating with rolling contacts (both modes): the mean horizontal speed (cm/s) of the rig's
heels and balls of the feet over the frames each is in contact (``RetargetResult.foot_contacts``),
with foot locking as shipped (heel and ball planted, the foot rolling between them), with the
ankle alone planted (as before rolling contacts; the feet still turned), and with foot locking off.

``--mocap`` measures instead, on held-out Bandai clips (whole content/style groups the default
model never saw), the direction errors of feet (heel -> toe), hands (wrist -> knuckles) and head
(right ear -> left ear) against the capture: its 17 points filmed exactly by a virtual camera
(7 m, 1.4 m high, 60 degrees) and lifted by the default model; MediaPipe's world landmarks made
from the capture, exact or MediaPipe-like (1.5 cm white + 1 cm slow noise per landmark, and the 17
points' 2D with the training data's detector errors, ``mocap.REAL_BODY_DETECTOR``): heel
and foot index on the foot joint's frame, knuckles on the hand joint's, nose, eyes and ears on the
head's. One rotation per clip puts LiftRig's world on the capture's. "off" is the same run with
the extremities off (each keeps its rest pose relative to its parent).

    .venv/bin/python benchmarks/extremities.py
    .venv/bin/python benchmarks/extremities.py --mocap [--max-clips 20]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIFTRIG_SHARED", ROOT.parent / "shared"))
CLIPS = [SHARED / "videos" / "outdoor-two-people-30fps.mp4",
         SHARED / "videos" / "lab-two-people-60fps.mp4"]
# role -> (bone of LiftRig's skeleton, MediaPipe landmarks from, to: None, the knuckles)
ROLES = {"left-foot": ("LAnkle", 29, 31), "right-foot": ("RAnkle", 30, 32),
         "left-hand": ("LWrist", 15, None), "right-hand": ("RWrist", 16, None),
         "head": ("Nose", 8, 7)}
KNUCKLES = {15: (17, 19), 16: (18, 20)}


def _jitter(directions: np.ndarray, fps: float) -> float:
    """Median angular acceleration of unit vectors [F, 3], degrees per frame^2 at 30 fps."""
    d = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    second = d[2:] - 2 * d[1:-1] + d[:-2]
    return float(np.degrees(np.median(np.linalg.norm(second, axis=-1))) * (30.0 / fps) ** 2)


# Where MediaPipe's foot landmarks sit on the Bandai left foot joint's frame (its X runs to the
# toes joint, about 40 degrees below the horizontal when the foot is flat; Y to the actor's left):
# the foot's flat forward and up in that frame, then the heel and foot index (metres).
FOOT_FORWARD, FOOT_UP = np.array([0.77, 0.0, 0.64]), np.array([-0.64, 0.0, 0.77])
HEEL_BELOW_ANKLE, HEEL_BEHIND_ANKLE, TOE_BEYOND_BALL = 0.08, 0.06, 0.06
KNUCKLES_ALONG, KNUCKLES_APART = 0.085, 0.04   # hand joint -> index / pinky knuckles (metres)


def _mediapipe_from_capture(motion):
    """MediaPipe-layout world landmarks [F, 33, 3] (LiftRig's world, metres) and the 17 points
    [F, 17, 3] of a Bandai clip."""
    from liftrig.retarget.bvh import forward_kinematics, guess_unit_scale
    from liftrig.retarget.mocap_map import Y_UP_TO_Z_UP, mocap_points

    points, coco = mocap_points(motion)
    sk = motion.skeleton
    pose = forward_kinematics(motion, guess_unit_scale(sk))
    pos = pose.positions @ Y_UP_TO_Z_UP.T
    rot = Y_UP_TO_Z_UP @ pose.rotations                   # [F, J, 3, 3] columns: local axes
    marks = np.repeat(coco[:, :1], 33, axis=1)            # nose where nothing better is known
    for k, m in ((0, 0), (2, 1), (5, 2), (7, 3), (8, 4)):  # nose, eyes, ears
        marks[:, k] = coco[:, m]
    layout = {11: "LShoulder", 12: "RShoulder", 13: "LElbow", 14: "RElbow", 15: "LWrist",
              16: "RWrist", 23: "LHip", 24: "RHip", 25: "LKnee", 26: "RKnee", 27: "LAnkle",
              28: "RAnkle"}
    from liftrig.h36m import JOINT_INDEX

    for k, name in layout.items():
        marks[:, k] = points[:, JOINT_INDEX[name]]
    # The right side's bones run along their joints' -X (its offsets are negative): its local X
    # and Z are the left side's turned half about Y.
    for side, sign, heel, toe, pinky, index in (("L", 1.0, 29, 31, 17, 19),
                                                ("R", -1.0, 30, 32, 18, 20)):
        foot, ball, hand = (sk.index(f"Foot_{side}"), sk.index(f"Toes_{side}"),
                            sk.index(f"Hand_{side}"))
        forward = rot[:, foot] @ (sign * FOOT_FORWARD)
        up = rot[:, foot] @ (sign * FOOT_UP)
        marks[:, heel] = pos[:, foot] - HEEL_BELOW_ANKLE * up - HEEL_BEHIND_ANKLE * forward
        marks[:, toe] = pos[:, ball] + TOE_BEYOND_BALL * forward
        along, across = sign * rot[:, hand, :, 0], sign * rot[:, hand, :, 2]
        marks[:, index] = pos[:, hand] + KNUCKLES_ALONG * along + KNUCKLES_APART * across
        marks[:, pinky] = pos[:, hand] + KNUCKLES_ALONG * along - KNUCKLES_APART * across
        marks[:, index + 2] = marks[:, index]            # thumbs: unused
    return marks, points


SKATING = ("rolling", "ankle only", "no locking")


def skating(clip) -> dict:
    """Heel and ball skating (cm/s, see the module's text) per way of locking: name -> [heel, ball].
    The contacts are those found with rolling contacts, the same frames for every row."""
    import dataclasses

    from liftrig.retarget import end_to_end
    from liftrig.retarget.contacts import part_skating
    from liftrig.retarget.end_to_end import RetargetOptions, foot_parts, retarget_clip

    rolling = retarget_clip(clip, RetargetOptions())
    contacts = rolling.foot_contacts.contacts                     # [F, 2 legs, 2 parts]
    found = end_to_end.foot_contacts

    def ankle_only(*args, **kwargs):                              # the same contacts, unused
        feet = found(*args, **kwargs)
        return dataclasses.replace(feet, weight=np.zeros_like(feet.weight))
    end_to_end.foot_contacts = ankle_only
    try:
        ankle = retarget_clip(clip, RetargetOptions())
    finally:
        end_to_end.foot_contacts = found
    unlocked = retarget_clip(clip, RetargetOptions(foot_lock=False))
    return {name: list(100 * part_skating(foot_parts(result.pose), contacts, clip.keypoints.fps))
            for name, result in zip(SKATING, (rolling, ankle, unlocked))}


def _print_skating(rows: dict) -> None:
    print("foot skating, cm/s (heel / ball of the foot, over their contacts):")
    for name in SKATING:
        cells = "  ".join(f"{clip[:20]:>20s} {r[name][0]:5.1f} / {r[name][1]:5.1f}"
                          for clip, r in rows.items())
        print(f"  {name:11s} {cells}")


def _direction(marks: np.ndarray, role: str) -> np.ndarray:
    """An extremity's direction [F, 3] from MediaPipe-layout landmarks."""
    pairs = {"left-foot": (29, 31), "right-foot": (30, 32), "head": (8, 7)}
    if role in pairs:
        a, b = pairs[role]
        return marks[:, b] - marks[:, a]
    wrist = 15 if role == "left-hand" else 16
    return marks[:, list(KNUCKLES[wrist])].mean(axis=1) - marks[:, wrist]


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def mocap(max_clips: int) -> int:
    """Direction errors of the extremities on held-out Bandai clips (see the module's text)."""
    from liftrig.formats import Joints3D, Keypoints2D
    from liftrig.lifter import load_lifter
    from liftrig.paths import cache_dir
    from liftrig.retarget.bvh import read_bvh
    from liftrig.retarget.extremities import rest_axes
    from liftrig.retarget.end_to_end import RetargetOptions, retarget_clip
    from liftrig.retarget.root_path import PinholeCamera, look_at_rotation
    from liftrig.training.data.mocap import (REAL_BODY_DETECTOR, clip_group, detector_errors,
                                             extract, is_held_out)

    folder = extract(SHARED / "data", cache_dir())["bandai"]
    files = sorted(p for p in folder.rglob("*.bvh")
                   if is_held_out(clip_group("bandai", p.stem)))[:max_clips]
    lifter = load_lifter(device="cpu")
    size = (1920, 1080)
    camera = PinholeCamera.from_fov(size, 60.0)
    rng = np.random.default_rng(0)
    errors = {(kind, role): [] for kind in ("exact", "mediapipe-like", "off") for role in ROLES}
    skates = {"exact": [], "mediapipe-like": []}
    for path in files:
        motion = read_bvh(path)
        step = max(1, int(round(motion.fps / 30)))
        marks, points = (a[::step] for a in _mediapipe_from_capture(motion))
        centre = points[:, 0].mean(axis=0)
        position = centre + np.array([4.0, -5.7, 0.0])
        position[2] = 1.4
        rotation = look_at_rotation(position, centre)
        cam = (points - position) @ rotation.T
        frames = len(points)
        base = Keypoints2D(keypoints=camera.project(cam).astype(np.float32),
                           scores=np.ones((frames, 17), np.float32),
                           valid=np.ones(frames, bool), fps=30.0, size=size,
                           frame_index=np.arange(frames))
        exact_joints = lifter.lift(base)
        noisy_pixels, noisy_scores = detector_errors(rng, base.keypoints.astype(np.float64),
                                                     REAL_BODY_DETECTOR, 30.0, size)
        noisy = Keypoints2D(keypoints=noisy_pixels.astype(np.float32),
                            scores=noisy_scores.astype(np.float32), valid=base.valid, fps=30.0,
                            size=size, frame_index=base.frame_index)
        noisy_joints = lifter.lift(noisy)
        for kind in ("exact", "mediapipe-like", "off"):
            seen, joints, kp2d = marks, exact_joints, base
            if kind == "mediapipe-like":
                joints, kp2d = noisy_joints, noisy
                slow = np.cumsum(rng.normal(0, 1.0, marks.shape), axis=0)
                slow = 0.01 * slow / np.maximum(np.abs(slow).max(axis=0, keepdims=True), 1e-9)
                seen = marks + rng.normal(0, 0.015, marks.shape) + slow
            world = (seen - 0.5 * (seen[:, 23:24] + seen[:, 24:25])) @ rotation.T  # camera axes
            pixels = camera.project((seen - position) @ rotation.T)
            kp = Keypoints2D(keypoints=kp2d.keypoints, scores=kp2d.scores, valid=base.valid,
                             fps=30.0, size=size, frame_index=base.frame_index,
                             landmarks=np.concatenate([pixels, np.zeros((frames, 33, 1)),
                                                       np.ones((frames, 33, 1))], -1
                                                      ).astype(np.float32),
                             world_landmarks=world.astype(np.float32))
            clip = Joints3D(kp, joints)
            result = retarget_clip(clip, RetargetOptions(extremities=kind != "off"))
            if kind in skates:
                skates[kind].append(skating(clip))
            ours = result.world.astype(np.float64)
            ours = ours - ours[:, :1]
            truth = points - points[:, :1]
            u, _, vt = np.linalg.svd(truth.reshape(-1, 3).T @ ours.reshape(-1, 3))
            onto = u @ np.diag([1, 1, np.sign(np.linalg.det(u @ vt))]) @ vt  # ours -> capture
            rig = result.pose.rig
            for role, (bone, _, _) in ROLES.items():
                j = rig.index(bone)
                rest_aim, _ = rest_axes(role, rig.rest_tails[j] - rig.rest_heads[j])
                got = (result.pose.world_rotations[:, j] @ rest_aim) @ onto.T
                errors[kind, role].append(_angles(got, _direction(marks, role)))
    print(f"{len(files)} held-out Bandai clips; direction error, mean (median) degrees:")
    print(f"{'extremity':12s} {'exact':>14s} {'MediaPipe-like':>15s} {'off':>14s}")
    for role in ROLES:
        cells = []
        for kind in ("exact", "mediapipe-like", "off"):
            e = np.concatenate(errors[kind, role])
            cells.append(f"{e.mean():6.1f} ({np.median(e):5.1f})")
        print(f"{role:12s} {cells[0]:>14s} {cells[1]:>15s} {cells[2]:>14s}")
    _print_skating({f"{kind} landmarks": {name: np.mean([r[name] for r in runs], axis=0)
                                          for name in SKATING} for kind, runs in skates.items()})
    return 0


def main() -> int:
    import argparse

    from scipy.spatial.transform import Rotation

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mocap", action="store_true",
                        help="direction errors on held-out motion capture instead")
    parser.add_argument("--max-clips", type=int, default=20)
    args = parser.parse_args()
    if args.mocap:
        return mocap(args.max_clips)

    from liftrig.detect.keypoints import extract_keypoints
    from liftrig.formats import Joints3D
    from liftrig.lifter import load_lifter
    from liftrig.retarget.extremities import extremity_targets, rest_axes
    from liftrig.retarget.end_to_end import RetargetOptions, retarget_clip

    model = str(SHARED / "models" / "pose_landmarker_full.task")
    lifter = load_lifter(device="cpu")
    print(f"{'clip':28s} {'extremity':11s} {'driven':>7s} {'turn':>6s} {'jitter ours':>12s} "
          f"{'MediaPipe':>10s}")
    skates = {}
    for clip in CLIPS:
        kp = extract_keypoints(clip, pose_model=model, jobs=1)
        lifted = Joints3D(kp, lifter.lift(kp))
        skates[clip.stem] = skating(lifted)
        result = retarget_clip(lifted, RetargetOptions())
        pose, rig = result.pose, result.pose.rig
        targets = extremity_targets(kp.world_landmarks, kp.landmarks[..., 3],
                                    result.world.astype(np.float64), kp.fps, 0.5, kp.valid)
        for role, (bone, a, b) in ROLES.items():
            j = rig.index(bone)
            rel = (np.swapaxes(pose.world_rotations[:, rig.parents[j]], -1, -2)
                   @ pose.world_rotations[:, j])
            turn = np.degrees(Rotation.from_matrix(rel).magnitude())
            rest_aim, _ = rest_axes(role, rig.rest_tails[j] - rig.rest_heads[j])
            ours = pose.world_rotations[:, j] @ rest_aim
            mp = kp.world_landmarks.astype(np.float64)
            end = mp[:, b] if b is not None else mp[:, list(KNUCKLES[a])].mean(axis=1)
            raw = end - mp[:, a]
            keep = kp.valid
            print(f"{clip.stem[:28]:28s} {role:11s} {np.mean(targets.weight[role] > 0.5):6.0%} "
                  f"{np.median(turn):5.1f}° {_jitter(ours[keep], kp.fps):11.2f}° "
                  f"{_jitter(raw[keep], kp.fps):9.2f}°")
    _print_skating(skates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
