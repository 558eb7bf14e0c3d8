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

    .venv/bin/python benchmarks/extremities.py
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


def main() -> int:
    from scipy.spatial.transform import Rotation

    from liftrig.detect.keypoints import extract_keypoints
    from liftrig.lifter import load_lifter
    from liftrig.retarget.extremities import extremity_targets, rest_axes
    from liftrig.retarget.pipeline import RetargetOptions, retarget_clip

    model = str(SHARED / "models" / "pose_landmarker_full.task")
    lifter = load_lifter(device="cpu")
    print(f"{'clip':28s} {'extremity':11s} {'driven':>7s} {'turn':>6s} {'jitter ours':>12s} "
          f"{'MediaPipe':>10s}")
    for clip in CLIPS:
        kp = extract_keypoints(clip, pose_model=model, jobs=1)
        kp.extra["joints3d"] = lifter.lift(kp)
        result = retarget_clip(kp, None, RetargetOptions())
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
