# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic file output: a reader sees the old file or the complete new one, never half of one."""

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import LiftRigError

# Called with each path once its new content is in place (the command line stops treating
# Ctrl+C as "nothing was written" from then on).
AFTER_REPLACE: list = []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_beside(path: Path) -> tuple[int, str]:
    """A new temporary file in ``path``'s folder with the permissions a plain open() would give
    (mkstemp's are owner-only). Returns ``(fd, temporary path)``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())
    return fd, tmp


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it vanishes.

    Usage: ``with atomic_write(out) as f: f.write(...)``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temporary_beside(path)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):  # an existing file keeps its permissions
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from None
        raise
    for hook in AFTER_REPLACE:
        hook(path)


def _cannot_write(path: Path, exc: OSError) -> LiftRigError:
    return LiftRigError(f"cannot write {path}: {exc.strerror or exc}. Choose another file or "
                        "folder (one you may write to, with free space).")


def save_npz_atomic(path, **arrays):
    """``numpy.savez_compressed`` to ``path`` (exactly that name, no added suffix), atomically."""
    import numpy as np

    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)
