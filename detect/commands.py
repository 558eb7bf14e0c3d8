# SPDX-License-Identifier: GPL-3.0-or-later
"""Subcommands of the 2D stage: ``liftrig keypoints``."""

from __future__ import annotations

import logging
import re
import sys

from ..checks import FRAME_RATE, check_output_path
from ..errors import LiftRigError
from ..options import add_detection_arguments


def add_commands(sub) -> None:
    p = sub.add_parser(
        "keypoints", help="video -> one person's 2D keypoints (.npz) with MediaPipe Pose",
        description="Detect people with MediaPipe Pose, follow one of them through the clip and "
                    "write their keypoints in Human3.6M order (see the README for the file).")
    p.add_argument("video", nargs="?", help="the video file (optional with --from-json "
                   "if --fps and --size are given)")
    p.add_argument("-o", "--output", required=True, help="the keypoints file to write (.npz)")
    add_detection_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--from-json", metavar="DIR_OR_FILE",
                   help="read another detector's output instead of running MediaPipe: a COCO-17 "
                        "keypoint JSON file or a folder of OpenPose per-frame JSON files")
    p.add_argument("--fps", type=FRAME_RATE, help="frame rate, with --from-json and no VIDEO")
    p.add_argument("--size", metavar="WxH", help="frame size, with --from-json and no VIDEO")
    p.set_defaults(handler=run_keypoints)


def _parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or not (0 < int(match[1]) <= 100_000 and 0 < int(match[2]) <= 100_000):
        raise LiftRigError(f"--size {text!r} is not WIDTHxHEIGHT in pixels, e.g. 1920x1080.")
    return int(match[1]), int(match[2])


def _check_output(path: str) -> None:
    check_output_path(path, (".npz",), "keypoints file")


def run_keypoints(args) -> int:
    from ..progress import terminal_progress

    logging.basicConfig(format="liftrig: %(message)s", level=logging.INFO, stream=sys.stderr)
    _check_output(args.output)
    if args.from_json:
        from .external_json import keypoints_from_json

        fps, size = args.fps, _parse_size(args.size) if args.size else None
        if args.video:
            from .video import probe_video

            info = probe_video(args.video)
            fps, size = fps or info.fps, size or info.size
        kp = keypoints_from_json(args.from_json, fps=fps, size=size, person=args.person)
    else:
        if not args.video:
            raise LiftRigError("Give a VIDEO, or --from-json with another detector's output.")
        from .keypoints import extract_keypoints

        with terminal_progress(not args.no_progress) as progress:
            kp = extract_keypoints(args.video, pose_model=args.pose_model, person=args.person,
                                   max_people=args.max_people, start=args.start, end=args.end,
                                   progress=progress, jobs=args.jobs)
    kp.save(args.output)
    print(f"{args.output}: {kp.num_frames} frames at {kp.fps:g} fps, subject found in "
          f"{int(kp.valid.sum())} ({100 * kp.valid.mean():.0f} %)")
    return 0
