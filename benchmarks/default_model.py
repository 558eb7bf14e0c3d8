# SPDX-License-Identifier: GPL-3.0-or-later
"""The default lifter's figures for its model card.

1. Held-out synthetic validation: every held-out content/style group of the Bandai data (and the
   held-out CMU clips, reported apart), each whole clip filmed by one seeded random camera with
   MediaPipe-like errors, lifted through the real inference path (``Lifter.lift``: windows,
   blending, flip). MPJPE, P-MPJPE (mm) and acceleration error (mm/frame^2). The cameras step
   back (within 2.5-7 m) to keep the subject in the picture, as the training's do since stage 2;
   ``--no-keep-in-frame`` gives stage 1's cameras, which often cut the body (the figures of the
   first shipped model).
2. Real footage, against MediaPipe's own per-frame 3D (``pose_world_landmarks``, mapped to the
   same 17 joints): jitter (mean joint acceleration, mm/frame^2) and bone-length stability (std of
   each bone's length over the clip, mm), on the longest run of detected frames of each shared clip.
   Two rows for LiftRig: the lifter's raw joints, and the joints of LiftRig's skeleton after the
   retarget stage (default options) -- what the animation in Blender carries.
3. Speed: frames per second of ``Lifter.lift`` with flip on this machine's CPU.

    .venv/bin/python benchmarks/default_model.py [--weights PATH] [--max-clips N]
                                                 [--no-keep-in-frame]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIFTRIG_SHARED", ROOT.parent / "shared"))


def synthetic_validation(lifter, max_clips: int | None, keep_in_frame: bool = True,
                         seed: int = 2024) -> dict:
    from liftrig.formats import Keypoints2D
    from liftrig.lifter.pose_models import cache_dir
    from liftrig.training import metrics
    from liftrig.training.data import mocap

    clips = mocap.load_clips(mocap.prepare(SHARED / "data", cache_dir()))
    _, held_out = mocap.split_clips(clips)
    ranges = mocap.CameraRanges(keep_in_frame=keep_in_frame)
    results = {}
    for source in ("bandai", "cmu"):
        chosen = [c for c in held_out if c.source == source][:max_clips]
        errors = {"MPJPE": [], "P-MPJPE": [], "accel": []}
        in_picture = []
        for k, clip in enumerate(chosen):
            rng = np.random.default_rng([seed, k])
            points, size, target = mocap.film(rng, clip.h36m, clip.coco, mocap.TRAIN_FPS, ranges)
            in_picture.append(((points >= 0) & (points <= size)).all(axis=(1, 2)))
            kp = Keypoints2D(keypoints=points, scores=np.ones(points.shape[:2]),
                             valid=np.ones(len(points), bool), fps=mocap.TRAIN_FPS, size=size,
                             frame_index=np.arange(len(points)))
            pred = lifter.lift(kp)
            errors["MPJPE"].append(metrics.mpjpe(pred, target))
            errors["P-MPJPE"].append(metrics.p_mpjpe(pred, target))
            if len(pred) > 2:
                errors["accel"].append(metrics.acceleration_error(pred, target))
        results[source] = {name: 1000 * float(np.concatenate(v).mean()) for name, v in errors.items()}
        results[source]["in_picture"] = 100 * float(np.concatenate(in_picture).mean())
        results[source]["clips"] = len(chosen)
        results[source]["frames"] = int(sum(len(c) for c in chosen))
    return results


def real_footage(lifter) -> dict:
    from liftrig.h36m import BONES
    from liftrig.lifter.keypoints import extract_keypoints
    from liftrig.lifter.landmarks import MEDIAPIPE_TO_COCO17, coco17_to_h36m
    from liftrig.retarget.pipeline import RetargetOptions, retarget_clip
    from liftrig.training import metrics

    out = {}
    for video in sorted((SHARED / "videos").glob("*.mp4")):
        kp = extract_keypoints(video, pose_model=SHARED / "models" / "pose_landmarker_full.task")
        ours = lifter.lift(kp)
        on_rig = retarget_clip(kp, ours, RetargetOptions(), "builtin").pose.points()
        on_rig = on_rig - on_rig[:, :1]  # pelvis-relative, as the other two are
        world = kp.world_landmarks[:, list(MEDIAPIPE_TO_COCO17)]
        theirs, _ = coco17_to_h36m(world, np.ones(world.shape[:2]))
        idx = np.flatnonzero(kp.valid)
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        run = max(runs, key=len)
        row = {}
        for name, poses in (("LiftRig", ours[run]), ("LiftRig skeleton", on_rig[run]),
                            ("MediaPipe world", theirs[run])):
            row[name] = {"jitter": 1000 * metrics.mean_acceleration(poses),
                         "bone_std": 1000 * metrics.bone_length_std(poses, BONES)}
        row["frames"] = len(run)
        row["fps"] = kp.fps
        out[video.name] = row
    return out


def speed(lifter, frames: int = 3000) -> float:
    from liftrig.formats import Keypoints2D

    rng = np.random.default_rng(0)
    points = 500 + 50 * rng.normal(size=(frames, 17, 2))
    kp = Keypoints2D(keypoints=points, scores=np.ones((frames, 17)), valid=np.ones(frames, bool),
                     fps=30.0, size=(1920, 1080), frame_index=np.arange(frames))
    lifter.lift(kp)  # warm-up
    start = time.perf_counter()
    lifter.lift(kp)
    return frames / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=None, help="default: the shipped default model")
    parser.add_argument("--max-clips", type=int, default=None,
                        help="at most this many held-out clips per source (default: all)")
    parser.add_argument("--keep-in-frame", action=argparse.BooleanOptionalAction, default=True,
                        help="cameras step back to keep the subject in the picture (default)")
    args = parser.parse_args()

    import torch

    from liftrig.lifter import load_lifter

    lifter = load_lifter(args.weights)
    print(f"weights: {args.weights or 'default'}; CPU threads {torch.get_num_threads()}; "
          f"precision {lifter.precision}")
    print(f"speed: {speed(lifter):.0f} frames/s (Lifter.lift with flip, 3000 frames at 30 fps)")
    for source, r in synthetic_validation(lifter, args.max_clips, args.keep_in_frame).items():
        print(f"held-out {source:6s} ({r['clips']} clips, {r['frames']} frames, "
              f"{r['in_picture']:.0f} % with the whole body in the picture): MPJPE "
              f"{r['MPJPE']:.1f} mm, P-MPJPE {r['P-MPJPE']:.1f} mm, acceleration error "
              f"{r['accel']:.2f} mm/frame^2")
    for clip, row in real_footage(lifter).items():
        print(f"{clip} ({row['frames']} frames at {row['fps']:g} fps):")
        for name in ("LiftRig", "LiftRig skeleton", "MediaPipe world"):
            r = row[name]
            print(f"  {name:16s} jitter {r['jitter']:6.2f} mm/frame^2, bone-length std "
                  f"mean {r['bone_std'].mean():5.1f} mm, max {r['bone_std'].max():5.1f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
