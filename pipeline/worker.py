# SPDX-License-Identifier: GPL-3.0-or-later
"""The worker process: everything before Blender (2D keypoints, lifting, retargeting) run by
another interpreter, for a Blender whose Python lacks torch, mediapipe or scipy, or to keep
Blender responsive. This module is the worker's side; :mod:`.worker_process` starts it.

    python -m liftrig.pipeline.worker JOB.pickle RESULT.pickle
    python -m liftrig.pipeline.worker --check video VIDEO | mapping SPEC.pickle | doctor MODEL

The job and the result are pickles that LiftRig writes and reads itself, in a private temporary
folder; progress and errors follow :mod:`liftrig.subprocesses`. ``--check`` runs one of the
add-on's short checks (:func:`check`) and prints its answer as one JSON line.
"""

from __future__ import annotations

import json
import pickle
import sys

from ..errors import LiftRigError
from ..fileio import atomic_write
from ..subprocesses import emit_progress, run_worker_main, stdout_to_stderr


CHECKS = ("video", "mapping", "doctor")


def check(kind: str, argument: str) -> dict:
    """One of the add-on's short checks, in the worker's Python (Blender's has no OpenCV or
    scipy): ``video``, what the panel shows of a video (``frames, fps, width, height``);
    ``mapping``, how an armature binds to a bone map (``report``), from a pickle of
    ``(ArmatureSpec, bone map)`` that LiftRig wrote; ``doctor``, what this Python can do
    (:func:`liftrig.pipeline.doctor.check` with the pose model ``argument``).
    ``{"error": message}`` for a user's mistake."""
    try:
        if kind == "doctor":
            from .doctor import check as doctor_check

            return doctor_check(argument or "full")
        if kind == "video":
            from ..detect.video import probe_video

            info = probe_video(argument)
            return {"frames": info.frame_count, "fps": info.fps, "width": info.width,
                    "height": info.height}
        if kind == "mapping":
            from .solve import bind_spec

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
            with stdout_to_stderr():           # what imports print stays off the answer
                result = check(argv[1] if len(argv) > 1 else "", argv[2] if len(argv) > 2 else "")
            print(json.dumps(result), flush=True)
            return 0
        return run_worker_main(answer)
    job_path, result_path = argv[:2]

    def solve() -> int:
        from .solve import solve_here

        with open(job_path, "rb") as f:
            job = pickle.load(f)
        solved = solve_here(job["source"], job["armature"], job["bone_map"], job["options"],
                            job["retarget_options"], progress=emit_progress,
                            cache_joints=job.get("cache_joints", False))
        with atomic_write(result_path) as f:
            pickle.dump(solved, f, protocol=pickle.HIGHEST_PROTOCOL)
        return 0

    return run_worker_main(solve)


if __name__ == "__main__":
    sys.exit(main())
