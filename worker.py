# SPDX-License-Identifier: GPL-3.0-or-later
"""The worker process: everything before Blender (2D keypoints, lifting, retargeting) run by
another interpreter, for a Blender whose Python lacks torch, mediapipe or scipy, or to keep
Blender responsive. This module is the worker's side; :mod:`liftrig.worker_process` starts it.

    python -m liftrig.worker JOB.pickle RESULT.pickle

The job and the result are pickles that LiftRig writes and reads itself, in a private temporary
folder. Progress goes to stdout as ``progress<TAB>stage<TAB>done<TAB>total`` lines; a
:class:`LiftRigError` becomes ``error<TAB>message`` on stderr and exit code 2.
"""

from __future__ import annotations

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


def main(argv: list[str] | None = None) -> int:
    job_path, result_path = (argv if argv is not None else sys.argv[1:])[:2]

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
