# SPDX-License-Identifier: GPL-3.0-or-later
"""The default lifter's figures for its model card.

1. Held-out motion capture: every held-out content/style group of the Bandai data (and the
   held-out CMU clips, a body of other proportions, reported apart), each whole clip filmed by
   one seeded random camera, lifted through the real inference path (``Lifter.lift``: windows,
   blending, flip). MPJPE, P-MPJPE (mm), acceleration error (mm/frame^2) and the limb-direction
   error (degrees: thighs, shins, upper arms, forearms after one rotation per clip, which does
   not depend on where a detector or a rig puts hip and shoulder points). Protocols
   (:func:`protocols`): ``studio`` (the actor's own body, stages 1-2's cameras, as before), and
   the clip re-posed on a drawn adult body filmed by an everyday camera, with exact 2D, with
   MediaPipe-like 2D, with the wider jitter of everyday footage (``mocap.EVERYDAY_DETECTOR``),
   through a phone's main lens only, and from a high camera only. The
   drawn-body targets put hips and shoulders where the detector sees them (``seen_targets``).
   ``--no-keep-in-frame`` lets the cameras cut the body (stage 1's protocol).
2. Real footage, against MediaPipe's own per-frame 3D (``pose_world_landmarks``, mapped to the
   same 17 joints) from the same detections: jitter (mean joint acceleration, mm/frame^2),
   bone-length stability (std of each bone's length over the clip, mm), the body's proportions
   (hip width / thigh, shoulder width / upper arm), left/right limb asymmetry, and how far the
   lifter's limb directions are from MediaPipe's, on the longest run of detected frames of
   each shared clip. Two rows for LiftRig: the lifter's raw joints, and the joints of LiftRig's
   skeleton after the retarget stage (default options) -- what the animation in Blender carries.
3. Speed: frames per second of ``Lifter.lift`` with flip on this machine's CPU.

    .venv/bin/python benchmarks/default_model.py [--weights PATH] [--max-clips N]
        [--protocol NAME ...] [--no-footage] [--no-keep-in-frame]
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


def protocols(keep_in_frame: bool = True) -> dict:
    """The held-out filming protocols: name -> film() options."""
    import dataclasses

    from liftrig.training.data import bodies, mocap

    everyday = dataclasses.replace(mocap.EVERYDAY_CAMERAS, keep_in_frame=keep_in_frame)
    drawn = {"bodies": bodies.BodyRanges(), "seen_targets": True}
    return {
        # stages 1-2's own: the actor's body, studio cameras, MediaPipe-like 2D
        "studio": {"ranges": mocap.CameraRanges(keep_in_frame=keep_in_frame),
                   "noise": mocap.DetectorNoise()},
        # other bodies through everyday cameras, with exact 2D and with MediaPipe-like 2D
        "bodies, exact 2D": {"ranges": everyday, "noise": None, **drawn},
        "bodies": {"ranges": everyday, "noise": mocap.REAL_BODY_DETECTOR, **drawn},
        # the same with the jitter of everyday footage, up to a back-lit, small subject's
        "bodies, noisy 2D": {"ranges": everyday, "noise": mocap.EVERYDAY_DETECTOR, **drawn},
        # the same, only phones' main lenses at hand height; only high cameras looking down
        "bodies, phone": {"ranges": dataclasses.replace(
            everyday, phone_share=1.0, wide_share=0.0, heights_m=((1.0, 0.8, 1.8),)),
            "noise": mocap.REAL_BODY_DETECTOR, **drawn},
        "bodies, high camera": {"ranges": dataclasses.replace(
            everyday, heights_m=((1.0, 2.5, 4.0),), distance_m=(1.5, 5.0)),
            "noise": mocap.REAL_BODY_DETECTOR, **drawn},
    }


def synthetic_validation(lifter, max_clips: int | None, keep_in_frame: bool = True,
                         seed: int = 2024, only: list[str] | None = None) -> dict:
    """(protocol, source) -> the field's metrics on every held-out clip, each filmed whole by
    one seeded camera."""
    from liftrig.formats import Keypoints2D
    from liftrig.paths import cache_dir
    from liftrig.training import metrics
    from liftrig.training.data import mocap

    clips = mocap.load_clips(mocap.prepare(SHARED / "data", cache_dir()))
    _, held_out = mocap.split_clips(clips)
    results = {}
    for protocol, options in protocols(keep_in_frame).items():
        if only and protocol not in only:
            continue
        for source in ("bandai", "cmu"):
            chosen = [c for c in held_out if c.source == source][:max_clips]
            errors = {"MPJPE": [], "P-MPJPE": [], "accel": [], "limbs": []}
            in_picture = []
            for k, clip in enumerate(chosen):
                rng = np.random.default_rng([seed, k])
                points, size, target = mocap.film(rng, clip.h36m, clip.coco, mocap.TRAIN_FPS,
                                                  **options)
                in_picture.append(((points >= 0) & (points <= size)).all(axis=(1, 2)))
                kp = Keypoints2D(keypoints=points, scores=np.ones(points.shape[:2]),
                                 valid=np.ones(len(points), bool), fps=mocap.TRAIN_FPS,
                                 size=size, frame_index=np.arange(len(points)))
                pred = lifter.lift(kp)
                errors["MPJPE"].append(1000 * metrics.mpjpe(pred, target))
                errors["P-MPJPE"].append(1000 * metrics.p_mpjpe(pred, target))
                errors["limbs"].append(metrics.limb_direction_error(pred, target))
                if len(pred) > 2:
                    errors["accel"].append(1000 * metrics.acceleration_error(pred, target))
            row = {name: float(np.concatenate(v).mean()) for name, v in errors.items()}
            row["in_picture"] = 100 * float(np.concatenate(in_picture).mean())
            row["clips"] = len(chosen)
            row["frames"] = int(sum(len(c) for c in chosen))
            results[protocol, source] = row
    return results


def real_footage(lifter) -> dict:
    from liftrig.h36m import BONES
    from liftrig.detect.keypoints import extract_keypoints
    from liftrig.detect.landmarks import MEDIAPIPE_TO_COCO17, coco17_to_h36m
    from liftrig.formats import Joints3D
    from liftrig.retarget.end_to_end import RetargetOptions, retarget_clip
    from liftrig.training import metrics

    out = {}
    for video in sorted((SHARED / "videos").glob("*.mp4")):
        kp = extract_keypoints(video, pose_model=SHARED / "models" / "pose_landmarker_full.task")
        ours = lifter.lift(kp)
        on_rig = retarget_clip(Joints3D(kp, ours), RetargetOptions(), "builtin").pose.points()
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
                         "bone_std": 1000 * metrics.bone_length_std(poses, BONES),
                         **metrics.body_proportions(poses)}
        # Limb directions of the lifter against MediaPipe's own 3D (one rotation for the clip):
        # where the two agree neither is far off; no ground truth on these clips.
        row["limbs vs MediaPipe"] = float(metrics.limb_direction_error(ours[run], theirs[run]).mean())
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
    parser.add_argument("--protocol", action="append", default=None,
                        help="only this held-out protocol (repeatable; default: all)")
    parser.add_argument("--no-footage", action="store_true", help="skip the real clips")
    args = parser.parse_args()

    import torch

    from liftrig.lifter import load_lifter

    lifter = load_lifter(args.weights)
    print(f"weights: {args.weights or 'default'}; CPU threads {torch.get_num_threads()}; "
          f"precision {lifter.precision}")
    print(f"speed: {speed(lifter):.0f} frames/s (Lifter.lift with flip, 3000 frames at 30 fps)")
    print("held-out mocap (MPJPE, P-MPJPE mm; acceleration error mm/frame^2; limb directions deg):")
    for (protocol, source), r in synthetic_validation(lifter, args.max_clips, args.keep_in_frame,
                                                      only=args.protocol).items():
        print(f"  {protocol:20s} {source:6s} ({r['clips']:3d} clips, {r['frames']:6d} frames, "
              f"{r['in_picture']:3.0f} % whole body in the picture): MPJPE {r['MPJPE']:6.1f}, "
              f"P-MPJPE {r['P-MPJPE']:5.1f}, accel {r['accel']:5.2f}, limbs {r['limbs']:5.1f}")
    if args.no_footage:
        return 0
    for clip, row in real_footage(lifter).items():
        print(f"{clip} ({row['frames']} frames at {row['fps']:g} fps); LiftRig's limbs against "
              f"MediaPipe's: {row['limbs vs MediaPipe']:.1f} deg")
        for name in ("LiftRig", "LiftRig skeleton", "MediaPipe world"):
            r = row[name]
            print(f"  {name:16s} jitter {r['jitter']:6.2f} mm/frame^2, bone-length std "
                  f"mean {r['bone_std'].mean():5.1f} mm, max {r['bone_std'].max():5.1f} mm; "
                  f"hips/thigh {r['hips/thigh']:.2f}, shoulders/upper arm "
                  f"{r['shoulders/upper arm']:.2f}, left/right {r['asymmetry %']:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
