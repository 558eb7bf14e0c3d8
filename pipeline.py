# SPDX-License-Identifier: GPL-3.0-or-later
"""Video (or a keypoints / joints ``.npz``) -> 2D keypoints -> 3D joints, without Blender.

The one path the command line, the headless batch and the Blender panel share. The heavy
stages run in this Python when it has torch and mediapipe (:func:`load_clip`), or in a worker
process with another interpreter (:func:`load_clip_in_worker`); both give the same file.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import LiftRigError
from .formats import Keypoints2D
from .progress import ProgressFn, report

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


def solve_clip(source, rig="builtin", options: LiftOptions = LiftOptions(),
               retarget_options=None, worker_python: str | None = None,
               progress: ProgressFn | None = None):
    """Everything before Blender: the clip's joints (here or in a worker) retargeted onto
    ``rig`` (``"builtin"``, a preset name or a :class:`BoundRig`). Returns ``(kp, result)``.

    Safe to run off Blender's main thread: it touches no Blender data.
    """
    from .retarget.pipeline import RetargetOptions, retarget_clip

    if worker_python:
        kp = load_clip_in_worker(source, worker_python, options, progress)
    else:
        kp = load_clip(source, options, progress)
    result = retarget_clip(kp, None, retarget_options or RetargetOptions(), rig, progress)
    return kp, result


def lift_command(source, output, options: LiftOptions, python: str = "python") -> list[str]:
    """The ``liftrig lift`` command line that a worker runs for :func:`load_clip_in_worker`."""
    cmd = [python, "-m", "liftrig", "lift", str(source), "-o", str(output), "-q",
           "--device", options.device, "--precision", options.precision,
           "--pose-model", options.pose_model]
    if options.weights:
        cmd += ["--weights", str(options.weights)]
    if not options.flip:
        cmd.append("--no-flip")
    if options.person is not None:
        cmd += ["--person", str(options.person)]
    return cmd


def load_clip_in_worker(source, python: str, options: LiftOptions = LiftOptions(),
                        progress: ProgressFn | None = None, timeout: float | None = None) -> Keypoints2D:
    """:func:`load_clip` run by another interpreter (one that has LiftRig, torch and mediapipe),
    through ``liftrig lift`` into a temporary file. A worker that fails or dies raises a
    :class:`LiftRigError` with the end of its log."""
    source = Path(source)
    if not source.is_file():
        raise LiftRigError(f"input not found: {source}")
    if options.start or options.end is not None:
        raise LiftRigError("a frame range is not passed to a worker yet: lift the whole clip "
                           "or run the stages in this Python")
    report(progress, "lifting (worker)", 0, None)
    with tempfile.TemporaryDirectory(prefix="liftrig-worker-") as tmp:
        out = Path(tmp) / "joints.npz"
        env = {**os.environ, "PYTHONNOUSERSITE": "1"}
        try:
            run = subprocess.run(lift_command(source, out, options, python), capture_output=True,
                                 text=True, timeout=timeout, env=env)
        except FileNotFoundError:
            raise LiftRigError(f"the worker interpreter {python!r} was not found: set the path of "
                               "a Python that has LiftRig's requirements") from None
        except subprocess.TimeoutExpired:
            raise LiftRigError(f"the worker ({python}) took longer than {timeout:g} s and was "
                               "stopped") from None
        if run.returncode != 0 or not out.is_file():
            tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-5:])
            how = (f"was killed by signal {-run.returncode}" if run.returncode < 0
                   else f"exited with code {run.returncode}")
            raise LiftRigError(f"the worker ({python}) {how} on {source.name}: {tail}")
        kp = Keypoints2D.load(out)
    report(progress, "lifting (worker)", 1, 1)
    return kp


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
