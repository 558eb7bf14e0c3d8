# SPDX-License-Identifier: GPL-3.0-or-later
"""Video or ``.npz`` -> motion on a rig, without Blender: the one path the command line, the
headless batch and the Blender panel share. The stages run in this Python when it has torch,
mediapipe and scipy, or in a worker process with another interpreter (:mod:`.worker`); both
give the same result.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import LiftRigError
from ..formats import Keypoints2D
from ..options import LiftOptions
from ..motion import SolveRun
from ..progress import ProgressFn
from .clips import lifting_device, load_clip, load_clip_cached, missing_modules


def solve_clip(source, rig="builtin", options: LiftOptions = LiftOptions(),
               retarget_options=None, progress: ProgressFn | None = None,
               cache_joints: bool = False):
    """The clip's joints retargeted onto ``rig`` (``"builtin"``, a preset name or a
    :class:`BoundRig`), in this Python. Returns ``(Joints3D, RetargetResult)``.
    ``cache_joints``: read / write a video's joints through :func:`load_clip_cached`."""
    from ..retarget.end_to_end import RetargetOptions, retarget_clip

    if cache_joints:
        clip, _, _ = load_clip_cached(source, options, progress)
    else:
        clip = load_clip(source, options, progress)
    result = retarget_clip(clip, retarget_options or RetargetOptions(), rig, progress)
    return clip, result


def bind_spec(armature, bone_map=None):
    """Bind an :class:`ArmatureSpec` to a bone map: ``None``/``"auto"`` detects the preset from
    the bone names, else a preset name or a JSON map file. Returns (BoundRig, report)."""
    from ..retarget.bonemap import bind, load_bone_map_json
    from ..retarget.presets import PRESETS, detect_preset, preset_bone_map
    from ..retarget.rig import Rig

    rig = Rig.from_matrices(armature.name, armature.bone_names, armature.parent_names,
                            armature.matrices, armature.lengths)
    if bone_map is None or bone_map == "auto":
        match = detect_preset(rig.bone_names)
        bound = bind(rig, match.bone_map)
        return bound, match.report() + "; " + bound.report()
    if str(bone_map) in PRESETS:
        bone_map = preset_bone_map(str(bone_map))
    else:
        path = Path(bone_map)
        if path.suffix.lower() != ".json":
            raise LiftRigError(f"bone map {bone_map!r}: use a preset ({', '.join(PRESETS)}) or a "
                               ".json bone map")
        if not path.is_file():
            raise LiftRigError(f"bone map not found: {path}")
        bone_map, _ = load_bone_map_json(path)
    bound = bind(rig, bone_map)
    return bound, bound.report()


def keyed_motion(kp: Keypoints2D, result, options, report_text: str = ""):
    """A :class:`liftrig.motion.KeyedMotion` (numpy only) from a retargeted clip."""
    from ..motion import KeyedMotion
    from ..retarget.root_path import PinholeCamera

    pose = result.pose
    rig, bound = pose.rig, pose.bound
    keyed = sorted({b for b, r in enumerate(bound.rules) if r is not None}
                   | {bound.translation_bone})
    focal = options.focal_px or PinholeCamera.from_fov(kp.size, options.fov_deg).focal
    frame = result.world_frame
    return KeyedMotion(
        rig_name=rig.name, bone_names=rig.bone_names, parents=rig.parents,
        rest_heads=rig.rest_heads, rest_tails=rig.rest_tails, rest_rotations=rig.rest_rotations,
        keyed=tuple(rig.bone_names[b] for b in keyed),
        world_rotations=pose.world_rotations[:, keyed], heads=pose.heads[:, keyed],
        translation_bone=rig.bone_names[bound.translation_bone], location=pose.location,
        fps=float(kp.fps), world=result.world,
        camera_to_world=None if frame is None else frame.camera_matrix,
        size=kp.size, focal_px=float(focal), first_video_frame=int(kp.frame_index[0]),
        report=report_text or "LiftRig skeleton sized to the subject")


def solve_here(source, armature=None, bone_map=None, options: LiftOptions = LiftOptions(),
               retarget_options=None, progress: ProgressFn | None = None,
               cache_joints: bool = False):
    """:func:`solve_for_blender` in this Python. ``retarget_options``: a RetargetOptions, or a
    dict of its fields (what Blender's side passes, as it cannot import the solver).
    ``cache_joints``: a video's joints come from / go to the joints cache; the motion then
    says which file and whether it was there (``motion.run``)."""
    from ..retarget.end_to_end import RetargetOptions, retarget_clip

    if isinstance(retarget_options, dict):
        retarget_options = RetargetOptions(**retarget_options)
    retarget_options = retarget_options or RetargetOptions()
    rig, text = ("builtin", "") if armature is None else bind_spec(armature, bone_map)
    if cache_joints:
        clip, cache, hit = load_clip_cached(source, options, progress)
    else:
        clip, cache, hit = load_clip(source, options, progress), None, False
    result = retarget_clip(clip, retarget_options, rig, progress)
    motion = keyed_motion(clip.keypoints, result, retarget_options, text)
    motion.run = SolveRun(device=(not hit and lifting_device(source)) or "",
                          joints_cache="" if cache is None else str(cache), cache_hit=hit)
    return motion


ENV_WORKER_PYTHON = "LIFTRIG_WORKER_PYTHON"


def choose_worker_python(configured: str | None, source=None, *, in_process: bool,
                         fix: str = "--worker-python PATH or LIFTRIG_WORKER_PYTHON") -> str | None:
    """The interpreter that runs the stages before Blender (2D, lifting, retargeting), or None
    for this process. The one rule every host follows:

    1. ``configured`` (``--worker-python``, the add-on's preferences) when given;
    2. with ``in_process`` (batch runs, scripts): this process, when its Python has the modules
       ``source`` needs (all of them when ``source`` is None);
    3. ``$LIFTRIG_WORKER_PYTHON`` when set;
    4. without ``in_process`` (the panel, which keeps Blender free): this Python, in a worker
       process, when it has the modules.

    Otherwise a LiftRigError names what is missing and ``fix``."""
    if configured:
        return configured
    missing = (missing_modules(source) if source is not None and Path(source).is_file()
               else _missing_here())
    if in_process and not missing:
        return None
    if os.environ.get(ENV_WORKER_PYTHON):
        return os.environ[ENV_WORKER_PYTHON]
    if not missing:
        return sys.executable
    raise LiftRigError(f"this Python lacks {', '.join(missing)}: give a worker interpreter that "
                       f"has LiftRig's requirements ({fix})")


def _missing_here() -> list[str]:
    """The modules of every stage that this Python lacks."""
    import importlib.util

    return [m for m in ("scipy", "torch", "mediapipe", "cv2")
            if importlib.util.find_spec(m) is None]


def solve_for_blender(source, armature=None, bone_map=None,
                      options: LiftOptions = LiftOptions(), retarget_options=None,
                      worker_python: str | None = None, progress: ProgressFn | None = None,
                      *, log_path=None, cancel=None, cache_joints: bool = False,
                      worker_env=None):
    """Everything before Blender data is touched: video or ``.npz`` -> a
    :class:`liftrig.motion.KeyedMotion` for ``armature`` (an :class:`ArmatureSpec` bound with
    ``bone_map``; None: LiftRig's skeleton sized to the subject).

    Runs in this Python, or in ``worker_python`` (default ``$LIFTRIG_WORKER_PYTHON`` when this
    Python lacks torch, mediapipe or scipy, as Blender's does) with the same result. Touches no
    Blender data, so it may run off Blender's main thread.

    ``log_path``: keep the worker's log there; ``cancel``: a :class:`threading.Event` that
    stops the work at once (the worker is killed) with :class:`Cancelled`; ``cache_joints``:
    a video's joints go through the joints cache (:func:`load_clip_cached`); ``worker_env``:
    the worker process's environment (default: this process's).
    """
    if not Path(source).is_file():
        raise LiftRigError(f"input not found: {source}")
    worker_python = choose_worker_python(worker_python, source, in_process=True)
    if worker_python:
        import dataclasses

        from .worker_process import solve_in_worker

        if dataclasses.is_dataclass(retarget_options):
            retarget_options = dataclasses.asdict(retarget_options)
        return solve_in_worker(worker_python, source, armature, bone_map, options,
                               retarget_options, progress, log_path=log_path, cancel=cancel,
                               cache_joints=cache_joints, env=worker_env)
    if cancel is not None:
        from ..errors import Cancelled

        inner = progress

        def progress(stage, done, total):  # noqa: F811  (cancel checked at each report)
            if cancel.is_set():
                raise Cancelled()
            if inner is not None:
                inner(stage, done, total)

    return solve_here(source, armature, bone_map, options, retarget_options, progress,
                      cache_joints=cache_joints)


def lift_to_bvh(source, output, options: LiftOptions = LiftOptions(),
                progress: ProgressFn | None = None, retarget_options=None) -> str:
    """``liftrig lift VIDEO -o OUT.bvh`` on LiftRig's skeleton, with LiftRig's own writer (no
    Blender needed; FBX and .blend go through the Blender shell, :mod:`liftrig.addon.batch`).
    Returns a one-line summary."""
    from ..retarget.export import write_pose_bvh

    clip, result = solve_clip(source, "builtin", options, retarget_options, progress=progress)
    write_pose_bvh(output, result.pose, clip.keypoints.fps)
    return result.summary()
