# SPDX-License-Identifier: GPL-3.0-or-later
"""The one way LiftRig's worker processes talk to their parent (the solve's worker,
:mod:`liftrig.pipeline.worker`, and the 2D chunks', :mod:`liftrig.detect.chunk_worker`):
tab-separated lines on stdout (``progress<TAB>stage<TAB>done<TAB>total``, and a worker's own
kinds), its log on stderr, and for a user's mistake ``error<TAB>message`` on stderr and exit
code 2. :func:`run_worker_main`, :func:`emit_progress` and :func:`stdout_to_stderr` are the worker's side;
:func:`start_worker`, :func:`read_progress` and :func:`worker_failure` the parent's.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from .errors import LiftRigError
from .progress import ProgressFn


# --- the worker's side ------------------------------------------------------------------------

def emit_progress(stage: str, done: int, total: int | None) -> None:
    """A :data:`ProgressFn` for a worker: one ``progress`` line on stdout."""
    print(f"progress\t{stage}\t{done}\t{'' if total is None else total}", flush=True)


def run_worker_main(work) -> int:
    """Run ``work()`` as a worker process's body: its return value is the exit code; a
    :class:`LiftRigError` becomes ``error<TAB>message`` on stderr and exit code 2."""
    try:
        return work()
    except LiftRigError as exc:
        print(f"error\t{exc}", file=sys.stderr, flush=True)
        return 2


@contextlib.contextmanager
def stdout_to_stderr():
    """Send file descriptor 1 (Python's and C libraries' stdout) to stderr for a while: what
    imports print stays off a worker's protocol lines."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:                             # no real stdout: nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


# --- the parent's side ------------------------------------------------------------------------

def read_progress(parts: list[str], progress: ProgressFn | None) -> bool:
    """Pass one of a worker's lines (split at tabs) to ``progress`` if it is a ``progress``
    line; returns whether it was."""
    if parts[0] != "progress" or len(parts) != 4:
        return False
    if progress is not None:
        progress(parts[1], int(parts[2]), int(parts[3]) if parts[3] else None)
    return True


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


def kill_on(cancel, proc) -> None:
    """Kill ``proc`` as soon as the event ``cancel`` is set (returns when ``proc`` ends)."""
    while proc.poll() is None:
        if cancel.wait(0.05):
            proc.kill()
            return
