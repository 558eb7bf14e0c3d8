# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic file output: a reader sees the old file or the complete new one, never half of one."""

import contextlib
import os
import tempfile
from pathlib import Path


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_npz_atomic(path, **arrays):
    """``numpy.savez_compressed`` to ``path`` (exactly that name, no added suffix), atomically."""
    import numpy as np

    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)
