# SPDX-License-Identifier: GPL-3.0-or-later
"""Streaming video decoding with OpenCV.

Frames are decoded in a background thread a few frames ahead of the consumer (OpenCV releases
the GIL while decoding, so decoding overlaps with pose inference), through a bounded queue:
memory stays constant whatever the clip's length.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import LiftRigError

# FFmpeg's and OpenCV's own messages ("moov atom not found") would duplicate our clearer errors.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

DEFAULT_FPS = 30.0  # used only when a container does not state its frame rate


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video."""

    path: Path
    fps: float
    width: int
    height: int
    frame_count: int  # as stated by the container; may be approximate for some formats
    codec: str        # FourCC, e.g. "avc1"

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps


@dataclass
class Frame:
    """One decoded frame."""

    index: int            # position in the video, from 0
    timestamp_ms: int     # presentation time, strictly increasing
    rgb: np.ndarray       # uint8 [H, W, 3]


def _open(path) -> "cv2.VideoCapture":
    import cv2

    path = Path(path)
    if not path.exists():
        raise LiftRigError(f"Video not found: {path}. Check the path.")
    if not path.is_file():
        raise LiftRigError(f"{path} is not a file. Give the path of a video file.")
    # One decoding thread: the pose model already keeps a core busy, and FFmpeg's own thread
    # pool would compete with it (benchmarks/keypoints.py measures the difference).
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not cap.isOpened():
        cap.release()
        raise LiftRigError(
            f"OpenCV cannot open {path}: it is not a video, or its codec is not supported. "
            "Convert it to H.264 MP4 (for example `ffmpeg -i IN -c:v libx264 OUT.mp4`).")
    return cap


def _fourcc(cap) -> str:
    import cv2

    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text if text.isprintable() else f"0x{code:08x}"


def probe_video(path) -> VideoInfo:
    """Read a video's frame rate, size and length, and check that its first frame decodes."""
    import cv2

    cap = _open(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        info = VideoInfo(
            path=Path(path),
            fps=float(fps) if fps and np.isfinite(fps) and fps > 0 else DEFAULT_FPS,
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            frame_count=max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0),
            codec=_fourcc(cap),
        )
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        if info.frame_count == 0:
            raise LiftRigError(f"{path} has no frames. Choose a video that contains footage.")
        raise LiftRigError(
            f"OpenCV cannot decode the frames of {path} (codec {info.codec!r}). "
            "Convert it to H.264 MP4 (for example `ffmpeg -i IN -c:v libx264 OUT.mp4`).")
    if info.width <= 0 or info.height <= 0:
        info = VideoInfo(info.path, info.fps, frame.shape[1], frame.shape[0], info.frame_count,
                         info.codec)
    return info


def cut_short_warning(path, decoded_to: int, end: int | None, info: VideoInfo) -> str | None:
    """What to say when a video stops decoding well before the length its header gives (a
    file cut short by a copy or a download): the output then covers only the frames that decode."""
    expected = info.frame_count if end is None else min(end, info.frame_count)
    if info.frame_count > 0 and decoded_to < 0.98 * expected - 1:
        return (f"{Path(path).name} stops after frame {decoded_to} of the {expected} its header "
                "gives: the file looks cut short (an unfinished copy or download?); only the "
                "frames that decode are used. Copy the video again to use all of it.")
    return None


def iter_frames(path, start: int = 0, end: int | None = None, prefetch: int = 4,
                rgb: bool = True, info: VideoInfo | None = None) -> Iterator[Frame]:
    """Yield the frames ``start <= index < end`` of a video, decoded ahead in a thread.

    At most ``prefetch`` decoded frames wait in memory. Timestamps come from the container
    and are forced strictly increasing (MediaPipe's VIDEO mode requires it). ``info``, from
    :func:`probe_video`, saves probing the file again.
    """
    import cv2

    info = info or probe_video(path)
    cap = _open(path)
    if start > 0:
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()
    done = object()
    notes: list[str | None] = []

    def put(item) -> bool:
        while not stop.is_set():
            try:
                frames.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def decode() -> None:
        try:
            index, last_ms = start, -1
            while end is None or index < end:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    # Said by the consumer's thread: MediaPipe's stderr may be captured now.
                    notes.append(cut_short_warning(path, index, end, info))
                    break
                ms = cap.get(cv2.CAP_PROP_POS_MSEC)
                ms = int(round(ms)) if ms and np.isfinite(ms) else int(round(index * 1000 / info.fps))
                if ms <= last_ms:  # missing or repeated container timestamps
                    ms = last_ms + 1
                last_ms = ms
                image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if rgb else bgr
                if not put(Frame(index, ms, image)):
                    return
                index += 1
            put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        finally:
            cap.release()

    worker = threading.Thread(target=decode, name="liftrig-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = frames.get()
            if item is done:
                for note in filter(None, notes):
                    logging.getLogger("liftrig").warning(note)
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
