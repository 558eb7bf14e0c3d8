# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading the datasets' preprocessed ``.npz`` files safely, with errors that say what is wrong.

The common layouts (VideoPose3D's Human3.6M and HumanEva-I files, P-STMO's MPI-INF-3DHP files)
store nested dicts as pickled object arrays. Those files come from other people, so they are
never unpickled freely: :class:`DataUnpickler` rebuilds only numpy arrays, dtypes and numpy
scalars (plain dicts, lists, tuples, strings and numbers need no classes); anything else in the
pickle is refused before it can run.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

from ...errors import LiftRigError

# The only classes a dataset's pickled object arrays may name: what numpy itself writes.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
}


class DataUnpickler(pickle.Unpickler):
    """An unpickler for data only: numpy arrays, dtypes, scalars and Python containers."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: a dataset file holds "
                                     "data only")


def _load_member(archive: zipfile.ZipFile, member: str):
    """One ``.npy`` member: a plain array directly, an object array through the data unpickler."""
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(f)
        if not dtype.hasobject:
            data = np.frombuffer(f.read(), dtype=dtype, count=int(np.prod(shape)))
            return data.reshape(shape, order="F" if fortran else "C").copy()
        return DataUnpickler(f).load()


def read_npz(path: Path, hint: str) -> dict:
    """Every entry of ``path``: {name: array, or the object an object array holds}. ``hint``
    (how to prepare the file) ends every error message."""
    path = Path(path)
    if not path.is_file():
        raise LiftRigError(f"{path} not found. {hint}")
    try:
        with zipfile.ZipFile(path) as archive:
            return {member[:-len(".npy")]: _load_member(archive, member)
                    for member in archive.namelist() if member.endswith(".npy")}
    except pickle.UnpicklingError as exc:
        raise LiftRigError(f"{path}: {exc}. {hint}") from None
    except Exception as exc:
        raise LiftRigError(f"{path} is not a readable .npz file ({exc}). {hint}") from None


def _unwrap(value):
    """The object a 0-d object array holds (how ``np.savez`` stores a dict), else ``value``."""
    if isinstance(value, np.ndarray) and value.dtype == object and value.shape == ():
        return value.item()
    return value


def read_dict(path: Path, key: str, layout: str, hint: str) -> tuple[dict, dict]:
    """``path``'s dict under ``key`` (subject -> action -> arrays in the common layouts) and all
    of the file's entries. ``layout`` names the expected layout in the error messages."""
    entries = read_npz(path, hint)
    if key not in entries:
        raise LiftRigError(f"{path} has no key {key!r} (it has {sorted(entries)}): it is not in "
                           f"{layout}. {hint}")
    value = _unwrap(entries[key])
    if not isinstance(value, dict):
        raise LiftRigError(f"{path}: {key!r} must be a dict, got {type(value).__name__}. {hint}")
    return value, entries


def check_metadata(path: Path, entries: dict, num_joints: int, left: tuple, right: tuple,
                   layout: str, hint: str) -> None:
    """The 2D file's ``metadata``: a dict whose joint count and left/right symmetry, where
    given, match ``layout`` (``num_joints`` joints, ``left`` and ``right`` index tuples)."""
    if "metadata" not in entries:
        raise LiftRigError(f"{path} has no key 'metadata' (joint count and left/right symmetry). "
                           f"{hint}")
    meta = _unwrap(entries["metadata"])
    if not isinstance(meta, dict):
        raise LiftRigError(f"{path}: 'metadata' must be a dict, got {type(meta).__name__}.")
    if "num_joints" in meta and int(meta["num_joints"]) != num_joints:
        raise LiftRigError(f"{path}: metadata says {meta['num_joints']} joints; LiftRig reads "
                           f"{layout} with {num_joints} joints.")
    sym = meta.get("keypoints_symmetry")
    if sym is not None:
        got_left, got_right = (tuple(int(j) for j in side) for side in sym)
        if (got_left, got_right) != (tuple(left), tuple(right)):
            raise LiftRigError(f"{path}: keypoints_symmetry {[list(got_left), list(got_right)]} "
                               f"is not the {layout} order {[list(left), list(right)]}; the 2D "
                               "keypoints are in another joint order.")


def check_subject(subject: str, files) -> None:
    """``subject`` is in each of ``files`` ((path, dict subject -> action -> arrays) pairs) and
    maps at least one action there."""
    for path, data in files:
        if subject not in data:
            raise LiftRigError(f"{path} has no subject {subject} (it has "
                               f"{', '.join(sorted(data)) or 'none'}). The file is incomplete; "
                               "prepare it again.")
        if not isinstance(data[subject], dict) or not data[subject]:
            raise LiftRigError(f"{path}: subject {subject} must map action names to arrays.")


def check_view(where: str, keypoints: np.ndarray, num_joints: int, frames: int,
               order: str) -> None:
    """One camera's 2D keypoints: [N, num_joints, 2] pixels with at least the ``frames`` of the
    3D (the common files may hold a few more)."""
    if keypoints.ndim != 3 or keypoints.shape[1:] != (num_joints, 2):
        raise LiftRigError(f"{where} has shape {list(keypoints.shape)}, expected "
                           f"[N, {num_joints}, 2] pixels in {order} order.")
    if len(keypoints) < frames:
        raise LiftRigError(f"{where} has {len(keypoints)} frames, fewer than the {frames} of the "
                           "3D: the 2D and 3D files do not belong together.")
