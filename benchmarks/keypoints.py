# SPDX-License-Identifier: GPL-3.0-or-later
"""How fast is the 2D stage, and what does LiftRig add on top of MediaPipe?

For each clip it measures, in frames per second:
  decode        OpenCV decoding + BGR->RGB alone (LiftRig's streaming reader);
  mediapipe     MediaPipe's PoseLandmarker alone, on frames decoded beforehand into memory;
  pipeline      the whole `liftrig keypoints` path: decode thread + MediaPipe + mapping + tracking;
and LiftRig's overhead = pipeline time / MediaPipe-alone time - 1.

``--jobs`` measures instead how ``liftrig keypoints --jobs N`` scales, for N = 1, 2, 4, ... up to
the cores present: the whole command is timed (Python's start, imports, workers, stitching)
on 900-frame 1920x1080 clips made from the shared footage (each clip letterboxed into 1080p and
played forwards and backwards; MPEG-4 Part 2, as OpenCV's writer has no H.264 encoder), cached
in ``~/.cache/liftrig/bench``.

    .venv/bin/python benchmarks/keypoints.py [--repeat 3] [--pose-model PATH] [--max-people 2]
    .venv/bin/python benchmarks/keypoints.py --jobs [--repeat 1]

``--seams`` cuts each shared clip itself (short: 30-frame chunks allowed) into three chunks and
compares the keypoints with one process's, next to one process started 10 frames later:

    .venv/bin/python benchmarks/keypoints.py --seams
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


def long_clip(source: Path, frames: int = 900) -> Path:
    """A ``frames``-long 1920x1080 clip of ``source`` (letterboxed, forwards then backwards)."""
    import cv2
    import numpy as np

    target = Path.home() / ".cache" / "liftrig" / "bench" / f"{source.stem}-{frames}-1080p.mp4"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    cap, images = cv2.VideoCapture(str(source)), []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        scale = min(1920 / bgr.shape[1], 1080 / bgr.shape[0])
        small = cv2.resize(bgr, (int(bgr.shape[1] * scale), int(bgr.shape[0] * scale)))
        canvas = np.zeros((1080, 1920, 3), np.uint8)
        top, left = (1080 - small.shape[0]) // 2, (1920 - small.shape[1]) // 2
        canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
        images.append(canvas)
    cap.release()
    order = list(range(len(images))) + list(range(len(images) - 2, 0, -1))
    partial = target.with_suffix(".partial.mp4")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1920, 1080))
    for i in range(frames):
        writer.write(images[order[i % len(order)]])
    writer.release()
    partial.replace(target)
    return target


def _difference(a: Path, b: Path, first: int = 0) -> str:
    """How far the subject's keypoints in file ``b`` lie from file ``a`` (frames ``first..``):
    median, 95th percentile and largest, in % of the body height, and whether both found the
    subject in the same frames."""
    import numpy as np

    from liftrig.formats import Keypoints2D

    one, other = Keypoints2D.load(a), Keypoints2D.load(b)
    rows = np.flatnonzero(np.isin(one.frame_index, other.frame_index) & (one.frame_index >= first))
    mine = one.keypoints[rows]
    theirs = other.keypoints[np.searchsorted(other.frame_index, one.frame_index[rows])]
    valid = one.valid[rows]
    height = np.median(np.ptp(mine[valid][:, :, 1], axis=1))
    error = 100 * np.linalg.norm(theirs - mine, axis=-1).max(axis=1)[valid] / height
    same = np.array_equal(valid, other.valid[np.searchsorted(other.frame_index,
                                                             one.frame_index[rows])])
    return (f"{np.median(error):.2f} / {np.percentile(error, 95):.2f} / {error.max():.2f} %"
            f"{'' if same else ' (subject found in other frames)'}")


def scaling(args) -> int:
    """frames/s of the whole ``liftrig keypoints --jobs N`` command, N = 1, 2, 4, ...; then how
    far each N's keypoints lie from N = 1's, next to how far a one-process run started one
    second later lies from it (MediaPipe's own dependence on the frames before)."""
    import subprocess
    import tempfile

    cores = len(os.sched_getaffinity(0))
    counts = sorted({1, cores} | {n for n in (2, 4, 8, 16, 32) if n <= cores})
    print(f"{cores} usable cores ({os.cpu_count()} present); whole `liftrig keypoints` "
          f"command, median of {args.repeat}")
    print(f"{'clip':40s} " + " ".join(f"{'jobs ' + str(n):>16s}" for n in counts))
    env = {**os.environ, "LIFTRIG_POSE_MODEL": args.pose_model}
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in [long_clip(c) for c in CLIPS]:
            row, base = [], None

            def keypoints(n: int, *extra) -> Path:
                out = Path(tmp) / f"{clip.stem}-{n}{'-'.join(extra)}.npz"
                subprocess.run([sys.executable, "-m", "liftrig", "keypoints", str(clip), "-o",
                                str(out), "--jobs", str(n), "--no-progress", "--max-people",
                                str(args.max_people), *extra], check=True, env=env,
                               capture_output=True)
                return out

            for n in counts:
                seconds = _time(lambda: keypoints(n), args.repeat)
                base = base or seconds
                row.append(f"{900 / seconds:6.1f}/s {base / seconds:4.2f}x")
            print(f"{clip.name:40s} " + " ".join(f"{cell:>16s}" for cell in row))
            reference = Path(tmp) / f"{clip.stem}-1.npz"
            for n in counts[1:]:
                notes.append(f"  {clip.name}, jobs {n} against jobs 1: "
                             f"{_difference(reference, Path(tmp) / f'{clip.stem}-{n}.npz')}")
            late = keypoints(1, "--start", "30")
            notes.append(f"  {clip.name}, one process from frame 30 against one from frame 0 "
                         f"(frames 30-899): {_difference(reference, late, first=30)}")
    print("\nKeypoints against one process (median / 95th percentile / largest, % of body "
          "height, per frame the joint that moved most):")
    print("\n".join(notes))
    return 0


def seams(args) -> int:
    """Three chunks against one process, and one process started 10 frames later, on the
    shared clips (median / 95th percentile / largest keypoint difference, % of body height)."""
    import tempfile

    from liftrig.detect import chunks
    from liftrig.detect.keypoints import extract_keypoints

    chunks.MIN_CHUNK_FRAMES = 30
    print("keypoints against one process (median / 95th percentile / largest, % of body height):")
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            files = {}
            for label, options in (("one", {"jobs": 1}), ("three", {"jobs": 3}),
                                   ("late", {"jobs": 1, "start": 10})):
                files[label] = Path(tmp) / f"{clip.stem}-{label}.npz"
                extract_keypoints(clip, pose_model=args.pose_model, max_people=args.max_people,
                                  **options).save(files[label])
            print(f"  {clip.name}: three chunks {_difference(files['one'], files['three'])}; "
                  f"one process from frame 10 {_difference(files['one'], files['late'], 10)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pose-model", default=str(SHARED / "models" / "pose_landmarker_full.task"))
    parser.add_argument("--max-people", type=int, default=2)
    parser.add_argument("--jobs", action="store_true",
                        help="measure how `liftrig keypoints --jobs N` scales instead")
    parser.add_argument("--seams", action="store_true",
                        help="compare three chunks of each shared clip with one process")
    args = parser.parse_args()
    if args.jobs:
        return scaling(args)
    if args.seams:
        return seams(args)

    from liftrig.detect.keypoints import extract_keypoints
    from liftrig.detect.pose2d import PoseDetector
    from liftrig.detect.video import iter_frames, probe_video

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
            extract_keypoints(clip, pose_model=args.pose_model, max_people=args.max_people,
                              jobs=1)

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
