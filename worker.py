# SPDX-License-Identifier: GPL-3.0-or-later
"""The worker process: everything before Blender (2D keypoints, lifting, retargeting) run by
another interpreter, for a Blender whose Python lacks torch, mediapipe or scipy, or to keep
Blender responsive. This module is the worker's side; :mod:`liftrig.worker_process` starts it.

    python -m liftrig.worker JOB.pickle RESULT.pickle
    python -m liftrig.worker --check video VIDEO | --check mapping SPEC.pickle

The job and the result are pickles that LiftRig writes and reads itself, in a private temporary
folder. Progress goes to stdout as ``progress<TAB>stage<TAB>done<TAB>total`` lines; a
:class:`LiftRigError` becomes ``error<TAB>message`` on stderr and exit code 2. ``--check`` runs
one of the panel's short checks (:func:`check`) and prints its answer as one JSON line.
"""

from __future__ import annotations

import json
import pickle
import sys

from .errors import LiftRigError
from .fileio import atomic_write


def _emit(stage: str, done: int, total: int | None) -> None:
    print(f"progress\t{stage}\t{done}\t{'' if total is None else total}", flush=True)


def run_worker_main(work) -> int:
    """Run ``work()`` as a worker process's body: its return value is the exit code; a
    :class:`LiftRigError` becomes ``error<TAB>message`` on stderr and exit code 2."""
    try:
        return work()
    except LiftRigError as exc:
        print(f"error\t{exc}", file=sys.stderr, flush=True)
        return 2


CHECKS = ("video", "mapping")


def check(kind: str, argument: str) -> dict:
    """One of the panel's short checks, in the worker's Python (Blender's has no OpenCV or
    scipy): ``video``, what the panel shows of a video (``frames, fps, width, height``);
    ``mapping``, how an armature binds to a bone map (``report``), from a pickle of
    ``(ArmatureSpec, bone map)`` that LiftRig wrote. ``{"error": message}`` for a user's
    mistake."""
    try:
        if kind == "video":
            from .detect.video import probe_video

            info = probe_video(argument)
            return {"frames": info.frame_count, "fps": info.fps, "width": info.width,
                    "height": info.height}
        if kind == "mapping":
            from .pipeline import bind_spec

            with open(argument, "rb") as f:
                spec, bone_map = pickle.load(f)
            return {"report": bind_spec(spec, bone_map)[1]}
    except LiftRigError as exc:
        return {"error": str(exc)}
    raise LiftRigError(f"unknown check {kind!r}: expected one of {', '.join(CHECKS)}")


def main(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    if argv[:1] == ["--check"]:
        def answer() -> int:
            print(json.dumps(check(*argv[1:3])), flush=True)
            return 0
        return run_worker_main(answer)
    job_path, result_path = argv[:2]

    def solve() -> int:
        from .pipeline import solve_here

        with open(job_path, "rb") as f:
            job = pickle.load(f)
        solved = solve_here(job["source"], job["armature"], job["bone_map"], job["options"],
                            job["retarget_options"], progress=_emit,
                            cache_joints=job.get("cache_joints", False))
        with atomic_write(result_path) as f:
            pickle.dump(solved, f, protocol=pickle.HIGHEST_PROTOCOL)
        return 0

    return run_worker_main(solve)


if __name__ == "__main__":
    sys.exit(main())
