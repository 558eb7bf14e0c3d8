# SPDX-License-Identifier: GPL-3.0-or-later
"""MediaPipe PoseLandmarker (Tasks API) in VIDEO mode: frames in, every person's landmarks out."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LiftRigError


@dataclass
class PersonLandmarks:
    """One detected person in one frame."""

    image: np.ndarray   # float32 [33, 4]: x, y in pixels, z (MediaPipe's depth), visibility
    world: np.ndarray   # float32 [33, 3]: metres, hips-centred (MediaPipe's world landmarks)
    presence: np.ndarray  # float32 [33]


@contextlib.contextmanager
def _quiet_native_stderr():
    """Hide what MediaPipe's C++ side prints to stderr while it starts (TFLite and absl notes
    that a user cannot act on). Errors still reach the user as exceptions."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. inside some hosts): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class PoseDetector:
    """A MediaPipe PoseLandmarker that finds up to ``max_people`` poses per frame.

    Use as a context manager so MediaPipe's graph is closed deterministically.
    """

    def __init__(self, model_path: Path, max_people: int = 2, min_detection: float = 0.5,
                 min_presence: float = 0.5, min_tracking: float = 0.5):
        from mediapipe.tasks.python import BaseOptions, vision

        model_path = Path(model_path)
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path)),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=max_people,
            min_pose_detection_confidence=min_detection,
            min_pose_presence_confidence=min_presence,
            min_tracking_confidence=min_tracking,
        )
        self._started = False
        try:
            with _quiet_native_stderr():
                self._landmarker = vision.PoseLandmarker.create_from_options(options)
        except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with C++ detail
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LiftRigError(
                f"{model_path} is not a valid MediaPipe pose-landmarker model ({first_line}). "
                "Delete it and let LiftRig download it again, or pass another --pose-model."
            ) from None

    def detect(self, rgb: np.ndarray, timestamp_ms: int) -> list[PersonLandmarks]:
        """The people in one RGB frame ``uint8 [H, W, 3]``; timestamps must increase."""
        import mediapipe as mp

        height, width = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        if self._started:
            result = self._landmarker.detect_for_video(image, int(timestamp_ms))
        else:  # the first frame starts the graph, which logs more notes
            with _quiet_native_stderr():
                result = self._landmarker.detect_for_video(image, int(timestamp_ms))
            self._started = True
        people = []
        for marks, world in zip(result.pose_landmarks, result.pose_world_landmarks):
            values = np.array([(p.x, p.y, p.z, p.visibility or 0.0, p.presence or 0.0)
                               for p in marks], np.float32)  # [33, 5]
            values[:, 0] *= width
            values[:, 1] *= height
            values[:, 2] *= width  # MediaPipe's z has the scale of x
            people.append(PersonLandmarks(
                image=values[:, :4],
                world=np.array([(p.x, p.y, p.z) for p in world], np.float32),
                presence=values[:, 4],
            ))
        return people

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> "PoseDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
