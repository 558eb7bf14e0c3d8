# SPDX-License-Identifier: GPL-3.0-or-later
"""MediaPipe PoseLandmarker (Tasks API) in VIDEO mode: frames in, every person's landmarks out."""

from __future__ import annotations

import os
import sys
import tempfile
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


PERSON_CHANNELS = 8  # image x, y, z, visibility | world x, y, z | presence


def people_to_array(people: list[PersonLandmarks]) -> np.ndarray:
    """One frame's people as one float32 array [P, 33, 8] (what a 2D worker process sends)."""
    if not people:
        return np.zeros((0, 33, PERSON_CHANNELS), np.float32)
    return np.stack([np.concatenate([p.image, p.world, p.presence[:, None]], axis=1)
                     for p in people]).astype(np.float32)


def people_from_array(values: np.ndarray) -> list[PersonLandmarks]:
    """The inverse of :func:`people_to_array`."""
    return [PersonLandmarks(image=v[:, :4].copy(), world=v[:, 4:7].copy(), presence=v[:, 7].copy())
            for v in np.asarray(values, np.float32).reshape(-1, 33, PERSON_CHANNELS)]


class NativeStderr:
    """Captures what MediaPipe's C++ side writes to file descriptor 2 (TFLite, absl and glog
    notes such as ``DestroyAccelerator`` that a user cannot act on) while it is created, runs
    and is closed. Nothing reaches the terminal; when a call fails, the captured lines ride on
    the exception as a note (shown with a traceback, never in a one-line error).

    ``with capture:`` redirects fd 2 into one temporary file for the duration of the block,
    so Python's own stderr (progress bars) is untouched between calls."""

    def __init__(self):
        self._file = None
        try:
            sys.stderr.flush()
            os.fstat(2)
            self._file = tempfile.TemporaryFile(mode="w+b")
        except (OSError, ValueError, AttributeError):  # no real fd 2 (some hosts): nothing to hide
            self._file = None
        self._saved = None

    def __enter__(self) -> "NativeStderr":
        if self._file is not None:
            try:
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):
                pass
            self._saved = os.dup(2)
            os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._saved is None:
            return
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._saved = None
        text = self.text()
        self._file.seek(0)
        self._file.truncate()
        if exc is not None and text.strip():
            exc.add_note("MediaPipe's native log:\n" + text.rstrip())

    def text(self) -> str:
        """What was captured since the block began."""
        if self._file is None:
            return ""
        self._file.flush()
        self._file.seek(0)
        return self._file.read().decode("utf-8", "replace")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


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
        self._native = NativeStderr()
        self._landmarker = None
        try:
            with self._native:
                self._landmarker = vision.PoseLandmarker.create_from_options(options)
        except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with C++ detail
            self._native.close()
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            error = LiftRigError(
                f"{model_path} is not a valid MediaPipe pose-landmarker model ({first_line}). "
                "Use another --pose-model (a model name, lite, full or heavy, is downloaded "
                "and checked by LiftRig).")
            for note in getattr(exc, "__notes__", ()):  # MediaPipe's native log, for a traceback
                error.add_note(note)
            raise error from None

    def detect(self, rgb: np.ndarray, timestamp_ms: int) -> list[PersonLandmarks]:
        """The people in one RGB frame ``uint8 [H, W, 3]``; timestamps must increase."""
        import mediapipe as mp

        height, width = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        with self._native:
            result = self._landmarker.detect_for_video(image, int(timestamp_ms))
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
            with self._native:  # closing logs each accelerator it destroys (mediapipe 1.2.3+)
                self._landmarker.close()
            self._landmarker = None
        self._native.close()

    def __enter__(self) -> "PoseDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
