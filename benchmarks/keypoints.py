# SPDX-License-Identifier: GPL-3.0-or-later
"""How fast is the 2D stage, and what does LiftRig add on top of MediaPipe?

For each clip it measures, in frames per second:
  decode        OpenCV decoding + BGR->RGB alone (LiftRig's streaming reader);
  mediapipe     MediaPipe's PoseLandmarker alone, on frames decoded beforehand into memory;
  pipeline      the whole `liftrig keypoints` path: decode thread + MediaPipe + mapping + tracking;
and LiftRig's overhead = pipeline time / MediaPipe-alone time - 1.

    .venv/bin/python benchmarks/keypoints.py [--repeat 3] [--pose-model PATH] [--max-people 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIFTRIG_SHARED", ROOT.parent / "shared"))
CLIPS = [SHARED / "videos" / "outdoor-two-people-30fps.mp4",
         SHARED / "videos" / "lab-two-people-60fps.mp4"]


def _time(fn, repeat: int) -> float:
    """Median wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pose-model", default=str(SHARED / "models" / "pose_landmarker_full.task"))
    parser.add_argument("--max-people", type=int, default=2)
    args = parser.parse_args()

    from liftrig.lifter.keypoints import extract_keypoints
    from liftrig.lifter.pose2d import PoseDetector
    from liftrig.lifter.video import iter_frames, probe_video

    print(f"CPU cores: {os.cpu_count()}, median of {args.repeat} runs, "
          f"max people {args.max_people}, model {Path(args.pose_model).name}")
    print(f"{'clip':34s} {'frames':>6s} {'size':>10s} {'decode':>9s} {'mediapipe':>10s} "
          f"{'pipeline':>9s} {'overhead':>9s}")
    for clip in CLIPS:
        info = probe_video(clip)
        frames = info.frame_count

        def decode():
            for _ in iter_frames(clip):
                pass

        decoded = [(f.timestamp_ms, f.rgb) for f in iter_frames(clip)]

        def mediapipe_alone():
            with PoseDetector(Path(args.pose_model), max_people=args.max_people) as detector:
                for stamp, rgb in decoded:
                    detector.detect(rgb, stamp)

        def pipeline():
            extract_keypoints(clip, pose_model=args.pose_model, max_people=args.max_people)

        t_decode = _time(decode, args.repeat)
        t_mp = _time(mediapipe_alone, args.repeat)
        del decoded
        t_pipe = _time(pipeline, args.repeat)
        print(f"{clip.name:34s} {frames:6d} {info.width:>5d}x{info.height:<4d} "
              f"{frames / t_decode:7.1f}/s {frames / t_mp:8.1f}/s {frames / t_pipe:7.1f}/s "
              f"{100 * (t_pipe / t_mp - 1):+8.1f}%")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory {peak:.0f} MB (includes the pre-decoded frames of the "
          "mediapipe-alone runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
