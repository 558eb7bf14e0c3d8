# SPDX-License-Identifier: GPL-3.0-or-later
"""Subcommands of the 2D stage: ``liftrig keypoints``."""


def add_commands(sub) -> None:
    p = sub.add_parser("keypoints", help="video -> 2D keypoints (.npz) with MediaPipe Pose")
    p.add_argument("video", nargs="?", help="the video file")
    p.add_argument("-o", "--output", required=True, help="the keypoints file to write (.npz)")
    p.set_defaults(handler=_keypoints)


def _keypoints(args) -> int:
    raise NotImplementedError
