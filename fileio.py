# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic file output: a reader sees the old file or the complete new one, never half of one."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it vanishes.

    Usage: ``with atomic_write(out) as f: f.write(...)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
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
