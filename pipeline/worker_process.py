# SPDX-License-Identifier: GPL-3.0-or-later
"""Starting the worker process (:mod:`.worker`) from Blender or a batch run: writes its job,
follows its progress lines, kills it on cancel, and reads its result or its error; and the
command line of the add-on's short checks (:func:`check_command`).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

from ..errors import Cancelled, LiftRigError
from ..progress import ProgressFn
from ..subprocesses import kill_on, read_progress, start_worker, worker_failure

MODULE = "liftrig.pipeline.worker"    # the worker: python -m MODULE


def check_command(python, kind: str, argument: str = "") -> list[str]:
    """The command line that runs :func:`liftrig.pipeline.worker.check` with ``python``."""
    return [str(python), "-m", MODULE, "--check", kind, argument]


def solve_in_worker(python: str, source, armature, bone_map, options, retarget_options,
                    progress: ProgressFn | None = None, timeout: float | None = None, *,
                    log_path=None, cancel=None, cache_joints: bool = False, env=None):
    """:func:`liftrig.pipeline.solve.solve_for_blender` run by ``python``: returns its
    :class:`liftrig.motion.KeyedMotion` (numpy only, so Blender can unpickle it).

    ``progress`` gets the worker's stages and may raise :class:`Cancelled`, which stops the
    worker at once; so does setting ``cancel`` (a :class:`threading.Event`), even while the
    worker reports nothing. A worker that fails or dies raises :class:`LiftRigError` with its
    message. ``log_path``: the worker's log (its stderr) is kept there (default: a temporary
    file). ``cache_joints``: see :func:`liftrig.pipeline.clips.load_clip_cached`. ``env``: the
    worker's environment (default: this process's), e.g. the Blender extension's, which puts its
    ``liftrig`` on ``PYTHONPATH``.
    """
    import threading
    import time

    with tempfile.TemporaryDirectory(prefix="liftrig-worker-") as tmp:
        job_path, result_path = Path(tmp) / "job.pickle", Path(tmp) / "result.pickle"
        with open(job_path, "wb") as f:
            pickle.dump({"source": str(Path(source).resolve()), "armature": armature,
                         "bone_map": None if bone_map is None else str(bone_map),
                         "options": options, "retarget_options": retarget_options,
                         "cache_joints": cache_joints}, f)
        log_path = Path(log_path) if log_path is not None else Path(tmp) / "worker.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in (os.environ if env is None else env).items()
               if k != "LIFTRIG_WORKER_PYTHON"}
        env["PYTHONNOUSERSITE"] = "1"
        command = [python, "-m", MODULE, str(job_path), str(result_path)]
        with open(log_path, "w") as log:
            log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command[:3])} "
                      f"on {Path(source).name}\n")
            log.flush()                        # the worker's stderr follows
            proc = start_worker(command, env, log, "set the path of a Python that has LiftRig's "
                                "requirements")
        if cancel is not None:
            threading.Thread(target=kill_on, args=(cancel, proc), daemon=True,
                             name="liftrig-worker-cancel").start()
        started = time.monotonic()
        try:
            for line in proc.stdout:
                read_progress(line.rstrip("\n").split("\t"), progress)
                if timeout is not None and time.monotonic() - started > timeout:
                    raise LiftRigError(f"the worker ({python}) took longer than {timeout:g} s "
                                       "and was stopped")
            proc.wait()
        except (Cancelled, KeyboardInterrupt, LiftRigError):
            proc.kill()
            proc.wait()
            raise
        finally:
            proc.stdout.close()
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        if proc.returncode != 0 or not result_path.is_file():
            raise worker_failure(proc.returncode, log_path,
                                 f"the worker ({python}) {{how}} on {Path(source).name}: {{tail}}")
        with open(result_path, "rb") as f:
            return pickle.load(f)
