# SPDX-License-Identifier: GPL-3.0-or-later
"""The 2D stage on every core (``--jobs N``): the clip is cut into contiguous chunks, each
decoded and detected by its own process (:mod:`.chunk_worker`; MediaPipe's VIDEO mode wants one
landmarker per process and increasing timestamps), and the chunks are stitched into the frames
one process would have given.

MediaPipe tracks: what it finds in a frame depends on the frames before it (the region it
crops, its landmark smoothing, the people it follows since they were detected). A worker that
starts cold in the middle of a clip may see a person differently for a while, or not at all
(someone the detector does not find again, but a single run has followed since the start). So
a chunk is never trusted from its first frame:

- each worker starts ``warm-up`` frames before its chunk (tracking is under way at the chunk);
- at a seam, the previous worker does not stop at its chunk's end unless the two workers
  *agree* there (the same people, every keypoint within ``AGREE_TOLERANCE`` of the person's
  height, ``AGREE_FRAMES`` frames running); else it goes on tracking into the next chunk, frame
  by frame, until they agree, and the output switches from one to the other at that point.

A seam therefore changes the keypoints by less than the tolerance, and a person followed
before it is followed after it. The workers run at once; the cost of a late agreement is the
frames the previous worker tracks again.
"""

from __future__ import annotations

import base64
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LiftRigError
from ..progress import ProgressFn, report
from ..subprocesses import start_worker, worker_failure
from .pose2d import PERSON_CHANNELS, people_from_array

log = logging.getLogger("liftrig")

MIN_CHUNK_FRAMES = 150   # a worker costs about a second to start: shorter chunks do not pay
WARM_UP_S = 0.5          # each worker starts this long before its chunk (at least 10 frames)
AGREE_TOLERANCE = 0.015  # keypoints of two workers agree within this fraction of body height
AGREE_FRAMES = 3         # ... in this many frames running


def usable_cores() -> int:
    """The cores this process may use (its CPU affinity), the default of ``--jobs``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def plan_chunks(start: int, stop: int, jobs: int, min_frames: int | None = None,
                warm_up: int = 0) -> list[tuple[int, int]]:
    """Contiguous chunks ``[a, b)`` covering ``start..stop``: at most ``jobs``, each of at least
    ``min_frames`` frames (default ``MIN_CHUNK_FRAMES``; one chunk, so no worker, for a short
    clip). Every chunk but the first also detects ``warm_up`` frames before it, so the first
    is that much longer: each worker has the same number of frames to detect."""
    min_frames = MIN_CHUNK_FRAMES if min_frames is None else min_frames
    count = max(1, min(jobs, (stop - start) // max(1, min_frames)))
    if count == 1:
        return [(start, stop)]
    share = (stop - start + (count - 1) * warm_up) / count   # frames each worker detects
    edges = [start] + [int(round(start + share + k * (share - warm_up))) for k in range(count - 1)]
    edges.append(stop)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def warm_up_frames(fps: float) -> int:
    """How many frames a worker detects before its chunk."""
    return max(10, int(round(WARM_UP_S * fps)))


def can_start_workers() -> bool:
    """Whether a worker process can import this package as ``liftrig`` (not so inside
    Blender's own Python, where the extension lives under ``bl_ext``)."""
    return __name__.split(".")[0] == "liftrig" and bool(sys.executable)


def _h36m_points(values: np.ndarray) -> list[np.ndarray]:
    """Each person's Human3.6M-17 image points [17, 2] from a worker's [P, 33, 8] array."""
    from .landmarks import mediapipe_to_h36m

    return [mediapipe_to_h36m(person[:, :4])[0] for person in values]


def frames_agree(a: np.ndarray, b: np.ndarray, tolerance: float = AGREE_TOLERANCE) -> bool:
    """Whether two workers' detections of one frame ([P, 33, 8] each) are the same people with
    every Human3.6M keypoint within ``tolerance`` of that person's height."""
    if len(a) != len(b):
        return False
    left, right = _h36m_points(a), _h36m_points(b)
    unmatched = list(range(len(right)))
    for points in left:
        height = max(float(np.ptp(points[:, 1])), float(np.ptp(points[:, 0])), 1.0)
        errors = [np.linalg.norm(points - right[j], axis=-1).max() / height for j in unmatched]
        best = int(np.argmin(errors))
        if errors[best] > tolerance:
            return False
        unmatched.pop(best)
    return True


@dataclass
class _Worker:
    """One chunk's process and what it has sent."""

    number: int
    first: int                 # the first frame it detects (its warm-up starts here)
    own: tuple[int, int]       # its chunk [a, b)
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    frames: dict = field(default_factory=dict)      # index -> [P, 33, 8]
    asking: int | None = None   # the frame it asks to go on to
    exit_code: int | None = None
    handover: tuple | None = None   # (frame, worker): from that frame on, that worker's frames

    def describe(self, count: int) -> str:
        return f"frames {self.own[0]}-{self.own[1] - 1} (chunk {self.number + 1} of {count})"


def _read(worker: _Worker, events: queue.Queue) -> None:
    """Turn a worker's stdout lines into events (the reading thread of one worker). When the
    parent closes the pipe (cancelled, or another worker failed), the thread ends quietly."""
    try:
        for line in worker.process.stdout:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "frame" and len(parts) == 5:
                values = np.frombuffer(base64.b64decode(parts[4]), np.float32)
                events.put(("frame", worker, int(parts[1]), int(parts[2]),
                            values.reshape(int(parts[3]), 33, PERSON_CHANNELS)))
            elif parts[0] == "ask" and len(parts) == 2:
                events.put(("ask", worker, int(parts[1])))
    except (ValueError, OSError):        # read from a pipe the parent has closed
        return
    events.put(("exit", worker, worker.process.wait()))


class _Stitcher:
    """Decides, from what the workers send, where each one hands over to the next."""

    def __init__(self, workers: list[_Worker]):
        self.workers = workers
        self._agreed: dict = {}  # (worker, next worker, frame) -> bool

    def successor(self, worker: _Worker, index: int) -> _Worker | None:
        """The first worker after ``worker`` whose chunk ends after frame ``index``."""
        for other in self.workers[worker.number + 1:]:
            if other.own[1] > index:
                return other
        return None

    def _agree(self, worker: _Worker, nxt: _Worker, index: int) -> bool:
        key = (worker.number, nxt.number, index)
        if key not in self._agreed:
            self._agreed[key] = frames_agree(worker.frames[index], nxt.frames[index])
        return self._agreed[key]

    def answer(self, worker: _Worker) -> str | None:
        """``go``, ``stop`` or None (not known yet) for a worker that asks to detect frame
        ``worker.asking``, past its chunk: it stops once it agrees with the next worker over
        ``AGREE_FRAMES`` frames running, and hands over to it at the first of them."""
        index = worker.asking
        nxt = self.successor(worker, index)
        if nxt is None or index - 1 < nxt.first:
            return "go"              # no frames in common yet
        if index - 1 not in nxt.frames:
            # The next worker has not got there yet (wait), or found no more frames.
            return "go" if nxt.exit_code is not None else None
        run = 0
        for f in range(nxt.first, index):
            if f in worker.frames and f in nxt.frames and self._agree(worker, nxt, f):
                run += 1
                if run == AGREE_FRAMES:
                    worker.handover = (f - AGREE_FRAMES + 1, nxt)
                    return "stop"
            else:
                run = 0
        return "go"

    def chain(self) -> "ChunkedDetections":
        """The stitched frames."""
        out = ChunkedDetections([], [], [])
        worker, index = self.workers[0], self.workers[0].first
        while True:
            until, nxt = worker.handover or (None, None)
            while index in worker.frames and (until is None or index < until):
                out.indices.append(index)
                out.people.append(worker.frames[index])
                index += 1
            if nxt is None or index != until:
                return out               # the clip, or its readable part, ends here
            out.seams.append(index)
            worker = nxt


@dataclass
class ChunkedDetections:
    """What :func:`detect_in_chunks` returns: the frames one process would have given."""

    indices: list[int]          # frame numbers, consecutive
    people: list[np.ndarray]    # per frame: float32 [P, 33, 8] (:func:`.pose2d.people_to_array`)
    seams: list[int]            # the frames where the output passes from one worker to the next


def detect_in_chunks(video, model_path, max_people: int, chunks: list[tuple[int, int]],
                     end: int | None, fps: float, progress: ProgressFn | None = None,
                     warm_up: int | None = None) -> ChunkedDetections:
    """Detect ``chunks`` (from :func:`plan_chunks`) of ``video`` in one worker process each.

    Raises LiftRigError naming the chunk of a worker that fails or dies; Ctrl+C or a progress
    callback that raises :class:`Cancelled` kills every worker at once.
    """
    warm_up = warm_up if warm_up is not None else warm_up_frames(fps)
    start, stop = chunks[0][0], chunks[-1][1]
    workers = [_Worker(k, max(start, a - (warm_up if k else 0)), (a, b))
               for k, (a, b) in enumerate(chunks)]
    events: queue.Queue = queue.Queue()
    stitcher = _Stitcher(workers)
    done = 0
    with tempfile.TemporaryDirectory(prefix="liftrig-2d-") as tmp:
        try:
            for w in workers:
                w.log_path = Path(tmp) / f"chunk-{w.number}.log"
                own_end = -1 if w.number == len(workers) - 1 else w.own[1]  # the last: no asks
                command = [sys.executable, "-m", "liftrig.detect.chunk_worker", str(video),
                           str(model_path), str(max_people), str(w.first), str(own_end),
                           str(-1 if end is None else end)]
                with open(w.log_path, "w") as log_file:
                    w.process = start_worker(command, {**os.environ, "PYTHONNOUSERSITE": "1"},
                                             log_file, "run with --jobs 1", stdin=True)
                threading.Thread(target=_read, args=(w, events), daemon=True,
                                 name=f"liftrig-chunk-{w.number}").start()
            running = len(workers)
            report(progress, "2D keypoints", 0, stop - start)
            while running:
                try:
                    event = events.get(timeout=0.1)
                except queue.Empty:
                    continue
                kind, w = event[0], event[1]
                if kind == "frame":
                    index = event[2]
                    w.frames[index] = event[4]
                    if w.own[0] <= index < w.own[1]:
                        done += 1
                        report(progress, "2D keypoints", done, stop - start)
                elif kind == "ask":
                    w.asking = event[2]
                elif kind == "exit":
                    w.exit_code = event[2]
                    running -= 1
                    if w.exit_code != 0:
                        raise _failure(w, len(workers))
                for asking in [x for x in workers if x.asking is not None]:
                    reply = stitcher.answer(asking)
                    if reply is not None:
                        asking.asking = None
                        asking.process.stdin.write(reply + "\n")
                        asking.process.stdin.flush()
        finally:
            for w in workers:
                if w.process is not None and w.process.poll() is None:
                    w.process.kill()
            for w in workers:
                if w.process is not None:
                    w.process.wait()
                    for pipe in (w.process.stdin, w.process.stdout):
                        try:
                            pipe.close()
                        except OSError:
                            pass
    for w in workers:
        log.debug("2D worker %d: frames %d-%d detected, hands over %s", w.number, w.first,
                  max(w.frames, default=w.first - 1),
                  f"at {w.handover[0]} to {w.handover[1].number}" if w.handover else "never")
    return stitcher.chain()


def _failure(worker: _Worker, count: int) -> LiftRigError:
    """The error for a worker that exited with a failure: its own message if it gave one."""
    return worker_failure(worker.exit_code, worker.log_path,
                          f"the 2D worker for {worker.describe(count)} {{how}}: {{tail}}. Run "
                          "again, or with --jobs 1.")
