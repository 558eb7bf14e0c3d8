# SPDX-License-Identifier: GPL-3.0-or-later
"""Video (or a keypoints / joints ``.npz``) -> 2D keypoints -> 3D joints, without Blender.

The one path the command line, the headless batch and the Blender panel share. The stages run
in this Python when it has torch, mediapipe and scipy, or in a worker process with another
interpreter (:mod:`liftrig.worker`); both give the same result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import LiftRigError
from .formats import Keypoints2D
from .progress import ProgressFn

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


@dataclass(frozen=True)
class LiftOptions:
    """The choices of ``liftrig lift`` that shape the 3D joints."""

    weights: str | None = None      # lifter weights; None: the installed default model
    device: str = "auto"
    precision: str = "auto"
    flip: bool = True
    pose_model: str = "full"
    person: int | None = None
    start: int = 0                  # for a video: only frames start <= f < end
    end: int | None = None


def clip_name(path) -> str:
    """The name a clip's action and outputs take: the file name without its suffixes."""
    name = Path(path).name
    for suffix in (".npz", ".keypoints", ".joints"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return Path(name).stem if Path(name).suffix.lower() in VIDEO_SUFFIXES else name


_LIFTERS: dict = {}


def cached_lifter(options: LiftOptions):
    """A loaded lifter for ``options``, kept for the next clip of a batch."""
    from .lifter.inference import load_lifter

    key = (options.weights, options.device, options.precision)
    if key not in _LIFTERS:
        _LIFTERS.clear()
        _LIFTERS[key] = load_lifter(options.weights, device=options.device,
                                    precision=options.precision)
    return _LIFTERS[key]


def load_clip(source, options: LiftOptions = LiftOptions(),
              progress: ProgressFn | None = None) -> Keypoints2D:
    """A clip's keypoints with ``extra["joints3d"]``: read from a joints ``.npz``, lifted from a
    keypoints ``.npz``, or detected and lifted from a video, in this Python."""
    source = Path(source)
    if not source.is_file():
        raise LiftRigError(f"input not found: {source}")
    if source.suffix.lower() == ".npz":
        kp = Keypoints2D.load(source)
        if "joints3d" in kp.extra:
            return kp
    else:
        from .lifter.keypoints import extract_keypoints

        kp = extract_keypoints(source, pose_model=options.pose_model, person=options.person,
                               start=options.start, end=options.end, progress=progress)
    lifter = cached_lifter(options)
    kp.extra["joints3d"] = lifter.lift(kp, flip=options.flip, progress=progress)
    return kp


def missing_modules(source) -> list[str]:
    """The modules this Python lacks for ``source`` (a joints file needs only scipy)."""
    import importlib.util

    source = Path(source)
    needed = ["scipy"]
    if source.suffix.lower() != ".npz":
        needed += ["torch", "mediapipe", "cv2"]
    else:
        needed += ["torch"]  # a keypoints-only file is lifted; a joints file is not
        try:
            import numpy as np

            with np.load(source, allow_pickle=False) as data:
                if "joints3d" in data.files:
                    needed.remove("torch")
        except Exception:  # unreadable: let load_clip say so
            pass
    return [m for m in needed if importlib.util.find_spec(m) is None]


def solve_clip(source, rig="builtin", options: LiftOptions = LiftOptions(),
               retarget_options=None, worker_python: str | None = None,
               progress: ProgressFn | None = None):
    """Everything before Blender: the clip's joints retargeted onto ``rig`` (``"builtin"``, a
    preset name or a :class:`BoundRig`). Returns ``(kp, result)``.

    Runs in this Python, or in ``worker_python`` (default ``$LIFTRIG_WORKER_PYTHON`` when this
    Python lacks torch, mediapipe or scipy) with the same result. Touches no Blender data.
    """
    from .retarget.pipeline import RetargetOptions

    retarget_options = retarget_options or RetargetOptions()
    if not Path(source).is_file():
        raise LiftRigError(f"input not found: {source}")
    if worker_python is None:
        missing = missing_modules(source)
        if missing:
            worker_python = os.environ.get("LIFTRIG_WORKER_PYTHON")
            if not worker_python:
                raise LiftRigError(
                    f"this Python lacks {', '.join(missing)}: give a worker interpreter that has "
                    "LiftRig's requirements (--worker-python PATH or LIFTRIG_WORKER_PYTHON)")
    if worker_python:
        from .worker import solve_in_worker

        return solve_in_worker(worker_python, source, rig, options, retarget_options, progress)
    from .retarget.pipeline import retarget_clip

    kp = load_clip(source, options, progress)
    result = retarget_clip(kp, None, retarget_options, rig, progress)
    return kp, result


ANIMATION_SUFFIXES = (".bvh", ".fbx", ".blend")


def lift_to_animation(source, output, options: LiftOptions = LiftOptions(),
                      progress: ProgressFn | None = None) -> str:
    """``liftrig lift VIDEO -o OUT.bvh|OUT.fbx|OUT.blend`` on LiftRig's skeleton: BVH with
    LiftRig's own writer (no Blender needed), FBX and .blend through the Blender engine when
    ``bpy`` is importable. Returns a one-line summary."""
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in ANIMATION_SUFFIXES:
        raise LiftRigError(f"cannot write {output.name!r}: use .bvh, .fbx or .blend")
    if suffix == ".bvh":
        from .retarget.export import write_pose_bvh

        kp, result = solve_clip(source, "builtin", options, progress=progress)
        write_pose_bvh(output, result.pose, kp.fps)
        return result.summary()
    try:
        import bpy  # noqa: F401
    except ImportError:
        raise LiftRigError(f"writing {suffix} needs Blender: install the bpy module "
                           "(pip install 'liftrig[blender]'), run `blender -b --command liftrig "
                           f"{source} -o {output}`, or write .bvh instead") from None
    from .addon.batch import convert_one

    row = convert_one(source, output, options, progress=progress)
    return f"{row.frames} frames at {row.fps:g} fps -> {row.output}"
