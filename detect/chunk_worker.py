# SPDX-License-Identifier: GPL-3.0-or-later
"""One 2D worker process of ``--jobs N``: decodes and detects one contiguous chunk of a clip
with its own PoseLandmarker. This module is the worker's side; :mod:`.chunks` starts the
workers and stitches what they find.

    python -m liftrig.detect.chunk_worker VIDEO MODEL MAX_PEOPLE FIRST OWN_END END

Frames ``FIRST <= f < OWN_END`` are detected and sent; past ``OWN_END`` (the chunk's end) the
worker asks before each frame whether to go on, up to ``END`` (-1: the clip's end), so that the
parent can keep it tracking until the next chunk's worker agrees with it. ``OWN_END`` -1: the
last chunk, detected to ``END`` without asking.

The protocol, one line each, on stdout:
``frame<TAB>index<TAB>timestamp_ms<TAB>people<TAB>base64 float32 [people, 33, 8]`` (see
:func:`.pose2d.people_to_array`) and ``ask<TAB>index`` (answered on stdin with ``go`` or
``stop``). A :class:`LiftRigError` is
``error<TAB>message`` on stderr and exit code 2. When stdin closes (the parent died or was
killed), the worker exits at once.
"""

from __future__ import annotations

import base64
import os
import queue
import sys
import threading
from pathlib import Path

from ..subprocesses import run_worker_main


def _follow_stdin(answers: queue.Queue) -> None:
    """Put each line of stdin in ``answers``; exit the process when stdin closes."""
    for line in sys.stdin:
        answers.put(line.strip())
    os._exit(3)  # the parent is gone: nothing would read what this process finds


def detect_chunk(video: str, model: str, max_people: int, first: int, own_end: int,
                 end: int | None, out=sys.stdout, answers: queue.Queue | None = None) -> None:
    """Detect frames ``first..`` of ``video`` and write the protocol's lines to ``out``."""
    from .pose2d import PoseDetector, people_to_array
    from .video import iter_frames, probe_video

    info = probe_video(video)
    with PoseDetector(Path(model), max_people=max_people) as detector:
        for frame in iter_frames(video, first, end, info=info):
            if 0 <= own_end <= frame.index:
                print(f"ask\t{frame.index}", file=out, flush=True)
                if answers is None or answers.get() != "go":
                    break
            people = people_to_array(detector.detect(frame.rgb, frame.timestamp_ms))
            data = base64.b64encode(people.tobytes()).decode("ascii")
            print(f"frame\t{frame.index}\t{frame.timestamp_ms}\t{len(people)}\t{data}",
                  file=out, flush=True)


def main(argv: list[str] | None = None) -> int:
    video, model, max_people, first, own_end, end = (argv if argv is not None
                                                     else sys.argv[1:])[:6]
    answers: queue.Queue = queue.Queue()
    threading.Thread(target=_follow_stdin, args=(answers,), daemon=True,
                     name="liftrig-chunk-stdin").start()

    def detect() -> int:
        detect_chunk(video, model, int(max_people), int(first), int(own_end),
                     None if int(end) < 0 else int(end), answers=answers)
        return 0

    try:
        return run_worker_main(detect)
    except KeyboardInterrupt:  # Ctrl+C reaches the whole process group; the parent reports it
        return 130


if __name__ == "__main__":
    sys.exit(main())
