# SPDX-License-Identifier: GPL-3.0-or-later
"""Starting the worker process (:mod:`liftrig.worker`) from Blender or a batch run: writes its
job, follows its progress lines, kills it on cancel, and reads its result or its error.

The job and the result are pickles that LiftRig writes and reads itself, in a private temporary
folder. The worker prints ``progress<TAB>stage<TAB>done<TAB>total`` lines on stdout; a
:class:`LiftRigError` there becomes ``error<TAB>message`` on stderr and exit code 2.

Every LiftRig worker process (this one, and the 2D chunks' of :mod:`liftrig.detect.chunks`)
speaks that way: tab-separated lines on stdout, ``error<TAB>message`` and exit code 2 for a
user's mistake; :func:`start_worker` and :func:`worker_failure` are the parent's side of it,
:func:`liftrig.worker.run_worker_main` the worker's.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import tempfile
from pathlib import Path

from .errors import Cancelled, LiftRigError
from .progress import ProgressFn


def start_worker(command: list[str], env: dict | None, log, fix: str,
                 stdin: bool = False) -> subprocess.Popen:
    """Start a worker process: text lines on its stdout (a pipe), its stderr into ``log`` (an
    open file), and a pipe to its stdin when ``stdin``. An interpreter that cannot be started is
    a LiftRigError that ends with ``fix`` (what the user can do about it)."""
    try:
        return subprocess.Popen(command, stdin=subprocess.PIPE if stdin else None,
                                stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    except OSError as exc:
        raise LiftRigError(f"the worker interpreter {command[0]!r} cannot be started ({exc}): "
                           f"{fix}") from None


def worker_failure(returncode: int, log_path: Path, message: str) -> LiftRigError:
    """The error for a worker that failed: the message of its own ``error<TAB>`` line if it
    wrote one, else ``message`` with ``{how}`` (the exit code or the signal that killed it) and
    ``{tail}`` (the last lines of its log) filled in."""
    log = [ln for ln in Path(log_path).read_text(errors="replace").strip().splitlines()
           if not ln.startswith("# ")]
    errors = [ln.split("\t", 1)[1] for ln in log if ln.startswith("error\t")]
    if errors:
        return LiftRigError(errors[-1])
    how = (f"was killed by signal {-returncode}" if returncode < 0
           else f"exited with code {returncode}")
    return LiftRigError(message.format(how=how, tail=" | ".join(log[-5:]) or "no output"))


def _kill_on(cancel, proc) -> None:
    """Kill ``proc`` as soon as the event ``cancel`` is set (returns when ``proc`` ends)."""
    while proc.poll() is None:
        if cancel.wait(0.05):
            proc.kill()
            return


def solve_in_worker(python: str, source, armature, bone_map, options, retarget_options,
                    progress: ProgressFn | None = None, timeout: float | None = None, *,
                    log_path=None, cancel=None, cache_joints: bool = False, env=None):
    """:func:`liftrig.pipeline.solve_for_blender` run by ``python``: returns its
    :class:`liftrig.motion.KeyedMotion` (numpy only, so Blender can unpickle it).

    ``progress`` gets the worker's stages and may raise :class:`Cancelled`, which stops the
    worker at once; so does setting ``cancel`` (a :class:`threading.Event`), even while the
    worker reports nothing. A worker that fails or dies raises :class:`LiftRigError` with its
    message. ``log_path``: the worker's log (its stderr) is kept there (default: a temporary
    file). ``cache_joints``: see :func:`liftrig.pipeline.load_clip_cached`. ``env``: the
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
        command = [python, "-m", "liftrig.worker", str(job_path), str(result_path)]
        with open(log_path, "w") as log:
            log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command[:3])} "
                      f"on {Path(source).name}\n")
            log.flush()                        # the worker's stderr follows
            proc = start_worker(command, env, log, "set the path of a Python that has LiftRig's "
                                "requirements")
        if cancel is not None:
            threading.Thread(target=_kill_on, args=(cancel, proc), daemon=True,
                             name="liftrig-worker-cancel").start()
        started = time.monotonic()
        try:
            for line in proc.stdout:
                parts = line.rstrip("\n").split("\t")
                if parts[0] == "progress" and len(parts) == 4 and progress is not None:
                    progress(parts[1], int(parts[2]), int(parts[3]) if parts[3] else None)
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
