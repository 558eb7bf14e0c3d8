# SPDX-License-Identifier: GPL-3.0-or-later
"""The files that hand data from one stage to the next, as typed dataclasses (numpy only).

The keypoints file (``.npz``, :class:`Keypoints2D`) is the 2D stage's output and the lifter's
input. The joints file (:class:`Joints3D`) is the lifter's output and the retarget stage's input:
the keypoints file plus ``joints3d``. Later stages keep the fields they read and add their own
(``world`` from retargeting), so :meth:`Keypoints2D.load` keeps fields it does not know in
``extra``. The README documents every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checks import checked_number
from .errors import LiftRigError
from .fileio import save_npz_atomic
from .h36m import NUM_JOINTS

NUM_MEDIAPIPE_LANDMARKS = 33
MAX_FRAME_INDEX = 100_000_000   # 38 days at 30 fps: anything beyond is a broken file


@dataclass
class Keypoints2D:
    """One subject's 2D keypoints over a clip, in Human3.6M order and pixel units."""

    keypoints: np.ndarray    # float32 [F, 17, 2] pixels, x right, y down
    scores: np.ndarray       # float32 [F, 17] in [0, 1]; 0 where nothing was detected
    valid: np.ndarray        # bool [F]: the subject was detected in this frame
    fps: float               # frames per second of the source video
    size: tuple[int, int]    # (width, height) of the frames in pixels
    frame_index: np.ndarray  # int64 [F]: the video frame each row comes from
    # MediaPipe's 33 landmarks: x, y in pixels, z (MediaPipe's relative depth), visibility.
    landmarks: np.ndarray | None = None         # float32 [F, 33, 4]
    # MediaPipe's per-frame metric 3D pose (hips-centred, metres), kept for comparisons.
    world_landmarks: np.ndarray | None = None   # float32 [F, 33, 3]
    source: str = "mediapipe"  # where the 2D came from: mediapipe, coco-json, openpose-json
    extra: dict = field(default_factory=dict, repr=False)  # other stages' fields, kept as read

    def __post_init__(self):
        self.keypoints = _numeric("keypoints", self.keypoints, np.float32)
        self.scores = _numeric("scores", self.scores, np.float32)
        self.valid = _numeric("valid", self.valid, bool)
        self.frame_index = _numeric("frame_index", self.frame_index, np.int64)
        self.fps = checked_number(_plain(self.fps), "fps", "positive", 1000.0)
        self.size = tuple(checked_number(_plain(value), f"size ({name})", "count", 100_000)
                          for name, value in zip(("width", "height"), self.size))
        n = len(self.keypoints)
        if self.keypoints.shape != (n, NUM_JOINTS, 2):
            raise LiftRigError(f"keypoints must have shape [F, {NUM_JOINTS}, 2], "
                               f"got {list(self.keypoints.shape)}")
        for name, arr, shape in (("scores", self.scores, (n, NUM_JOINTS)),
                                 ("valid", self.valid, (n,)),
                                 ("frame_index", self.frame_index, (n,))):
            if arr.shape != shape:
                raise LiftRigError(f"{name} must have shape {list(shape)}, got {list(arr.shape)}")
        if self.landmarks is not None:
            self.landmarks = _numeric("landmarks", self.landmarks, np.float32)
        if self.world_landmarks is not None:
            self.world_landmarks = _numeric("world_landmarks", self.world_landmarks, np.float32)
        if n and (self.frame_index.min() < 0 or self.frame_index.max() > MAX_FRAME_INDEX):
            raise LiftRigError(f"frame_index must lie in 0..{MAX_FRAME_INDEX:,} (video frames), "
                               f"got {self.frame_index.min()}..{self.frame_index.max()}")


    @property
    def num_frames(self) -> int:
        return len(self.keypoints)

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields as the arrays stored in the ``.npz`` file."""
        out = {
            "keypoints": self.keypoints,
            "scores": self.scores,
            "valid": self.valid,
            "fps": np.float64(self.fps),
            "size": np.array(self.size, np.int64),
            "frame_index": self.frame_index,
            "source": np.array(self.source),
        }
        if self.landmarks is not None:
            out["landmarks"] = self.landmarks
        if self.world_landmarks is not None:
            out["world_landmarks"] = self.world_landmarks
        return out

    def save(self, path, **more: np.ndarray) -> None:
        """Write the keypoints file atomically, plus the other stages' arrays in ``more``."""
        save_npz_atomic(path, **{**self.extra, **self.arrays(), **more})

    @classmethod
    def load(cls, path) -> "Keypoints2D":
        """Read a keypoints file; fields of later stages land in :attr:`extra`."""
        path = Path(path)
        if not path.is_file():
            raise LiftRigError(f"Keypoints file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as exc:  # zip or npy format errors
            raise LiftRigError(f"{path} is not a readable .npz keypoints file ({exc}). "
                               "Create one with `liftrig keypoints VIDEO -o KP.npz`.") from None
        missing = [k for k in ("keypoints", "scores", "valid", "fps", "size", "frame_index")
                   if k not in arrays]
        if missing:
            raise LiftRigError(f"{path} lacks the field(s) {', '.join(missing)}: it is not a "
                               "LiftRig keypoints file. Create one with `liftrig keypoints`.")
        known = {"keypoints", "scores", "valid", "fps", "size", "frame_index", "landmarks",
                 "world_landmarks", "source"}
        return cls(
            keypoints=arrays["keypoints"],
            scores=arrays["scores"],
            valid=arrays["valid"],
            fps=_scalar(arrays["fps"], "fps", path),
            size=_size(arrays["size"], path),
            frame_index=arrays["frame_index"],
            landmarks=arrays.get("landmarks"),
            world_landmarks=arrays.get("world_landmarks"),
            source=str(arrays["source"]) if "source" in arrays else "mediapipe",
            extra={k: v for k, v in arrays.items() if k not in known},
        )


JOINTS_FIELD = "joints3d"


@dataclass
class Joints3D:
    """The lifter's output: one subject's 3D joints over a clip, beside the 2D keypoints they
    were lifted from (the retarget stage needs both: the 2D places the root in the world)."""

    keypoints: Keypoints2D
    # float32 [F, 17, 3] metres, root-relative, camera axes (x right, y down, z forward);
    # NaN where a lifter gave nothing (the retarget stage fills such gaps).
    joints: np.ndarray

    def __post_init__(self):
        self.joints = _numeric(JOINTS_FIELD, self.joints, np.float32)
        shape = (self.keypoints.num_frames, NUM_JOINTS, 3)
        if self.joints.shape != shape:
            raise LiftRigError(f"joints3d must have shape {list(shape)} to match the keypoints, "
                               f"got {list(self.joints.shape)}")

    @property
    def num_frames(self) -> int:
        return self.keypoints.num_frames

    def save(self, path, **more: np.ndarray) -> None:
        """Write the joints file atomically (the keypoints file plus ``joints3d``), plus the
        other stages' arrays in ``more``."""
        self.keypoints.save(path, **{JOINTS_FIELD: self.joints, **more})

    @classmethod
    def load(cls, path) -> "Joints3D":
        """Read a joints file (from ``liftrig lift``); other stages' fields land in
        ``keypoints.extra``."""
        kp = Keypoints2D.load(path)
        joints = kp.extra.pop(JOINTS_FIELD, None)
        if joints is None:
            raise LiftRigError(f"{path} has 2D keypoints but no 3D joints yet: run `liftrig lift "
                               f"{path} -o JOINTS.npz` first")
        return cls(kp, joints)


def has_joints(path) -> bool:
    """Whether an ``.npz`` file holds 3D joints (a joints file, not only keypoints); False for a
    file that cannot be read (reading it properly then says why)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return JOINTS_FIELD in data.files
    except Exception:  # zip or npy format errors, a missing file
        return False


def _scalar(value, name: str, path: Path) -> float:
    """A field that must hold one number (``fps``)."""
    value = np.asarray(value)
    if value.shape != () or not np.issubdtype(value.dtype, np.number):
        raise LiftRigError(f"{path}: {name} must be one number, got {value!r}")
    return float(value)


def _size(value, path: Path) -> tuple[int, int]:
    """The ``size`` field: two finite numbers."""
    value = np.asarray(value)
    if value.shape != (2,) or not np.issubdtype(value.dtype, np.number) \
            or not np.isfinite(value).all() or np.abs(value).max() > 1e9:
        raise LiftRigError(f"{path}: size must be two numbers (width, height), got {value!r}")
    return int(value[0]), int(value[1])


def _plain(value):
    """A numpy scalar as the Python number it holds (a float that is whole as an int), so that
    the checks see numbers, not numpy types."""
    value = value.item() if isinstance(value, np.generic) else value
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**62 \
        else value


def _numeric(name: str, value, dtype) -> np.ndarray:
    """``value`` as an array of ``dtype``, refusing text, objects and (for integers) values that
    do not fit, instead of numpy's traceback or wrap-around."""
    array = np.asarray(value)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise LiftRigError(f"{name} must hold numbers, got {array.dtype} values")
    if np.issubdtype(np.dtype(dtype), np.integer) and array.size:
        if not np.isfinite(array).all() or np.abs(array).max() > 2**62:
            raise LiftRigError(f"{name} must hold whole numbers in range")
    return array.astype(dtype)
