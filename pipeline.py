# SPDX-License-Identifier: GPL-3.0-or-later
"""Video (or a keypoints / joints ``.npz``) -> 2D keypoints -> 3D joints, without Blender.

The one path the command line, the headless batch and the Blender panel share. The stages run
in this Python when it has torch, mediapipe and scipy, or in a worker process with another
interpreter (:mod:`liftrig.worker`, started by :mod:`liftrig.worker_process`); both give the
same result.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import LiftRigError
from .formats import Joints3D, Keypoints2D, has_joints
from .options import LiftOptions
from .progress import ProgressFn

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


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
              progress: ProgressFn | None = None) -> Joints3D:
    """A clip's 3D joints: read from a joints ``.npz``, lifted from a keypoints ``.npz``, or
    detected and lifted from a video, in this Python."""
    source = Path(source)
    if not source.is_file():
        raise LiftRigError(f"input not found: {source}")
    if source.suffix.lower() == ".npz":
        if has_joints(source):
            return Joints3D.load(source)
        kp = Keypoints2D.load(source)
    else:
        from .detect.keypoints import extract_keypoints

        kp = extract_keypoints(source, pose_model=options.pose_model, person=options.person,
                               max_people=options.max_people, start=options.start,
                               end=options.end, progress=progress, jobs=options.jobs)
    lifter = cached_lifter(options)
    return Joints3D(kp, lifter.lift(kp, flip=options.flip, progress=progress))


# --- the joints cache: video -> joints once, then any number of retargets ----------------------

JOINTS_CACHE_VERSION = 3  # 2: the 2D stage undoes left/right swaps; 3: of the landmarks too


def file_digest(path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's content (hex)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def content_digest(path) -> str:
    """:func:`file_digest` of a video, remembered in the user cache per path, size and
    modification time, so a re-run on a long clip does not read it all again."""
    import json

    from .fileio import atomic_write
    from .paths import cache_dir

    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    index_path = cache_dir() / "joints" / "digests.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    if not isinstance(index, dict):
        index = {}
    if isinstance(index.get(key), str):
        return index[key]
    digest = index[key] = file_digest(path)
    try:
        with atomic_write(index_path, "w") as f:
            json.dump(dict(list(index.items())[-500:]), f)
    except OSError:                    # a read-only cache: no memo, still correct
        pass
    return digest


def joints_cache_path(source, options: LiftOptions = LiftOptions()) -> Path:
    """Where the joints of ``source`` (a video) lifted with ``options`` are cached: under the
    user cache (``LIFTRIG_CACHE``), named by the video's content and every option that shapes
    the keypoints and joints (pose model, person, people per frame, frame range, lifter weights, device,
    precision, flip). Changing retargeting options keeps the same file."""
    import hashlib
    import json

    from .detect.pose_models import ENV_MODEL, POSE_MODELS, cache_dir

    pose_model = str(options.pose_model)
    if pose_model not in POSE_MODELS:                 # a .task file: its content
        pose_model = file_digest(Path(pose_model).expanduser())
    elif os.environ.get(ENV_MODEL) and Path(os.environ[ENV_MODEL]).is_file():
        pose_model = file_digest(os.environ[ENV_MODEL])
    if options.weights is None:
        from .lifter.default_weights import find_default_weights
        from .lifter.inference import DEFAULT_WEIGHTS

        weights = find_default_weights(DEFAULT_WEIGHTS) or DEFAULT_WEIGHTS
    else:
        weights = Path(options.weights).expanduser()
    if not weights.is_file():
        raise LiftRigError(f"lifter weights not found: {weights}")
    key = {"version": JOINTS_CACHE_VERSION, "video": content_digest(source),
           "pose_model": pose_model, "person": options.person,
           "max_people": options.max_people, "start": options.start,
           "end": options.end, "weights": file_digest(weights), "device": options.device,
           "precision": options.precision, "flip": options.flip}
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return cache_dir() / "joints" / f"{name}.npz"      # a renamed or moved copy hits it too


def load_clip_cached(source, options: LiftOptions = LiftOptions(),
                     progress: ProgressFn | None = None) -> tuple[Joints3D, Path | None, bool]:
    """:func:`load_clip` through the joints cache (videos only). Returns ``(joints, cache file
    or None, whether the cache had it)``. The cache file is written atomically; an unreadable
    one is replaced."""
    from .progress import report

    if Path(source).suffix.lower() == ".npz":
        return load_clip(source, options, progress), None, False
    report(progress, "cache: checking the joints cache", 0, 1)
    path = joints_cache_path(source, options)
    report(progress, "cache: checking the joints cache", 1, 1)
    if path.is_file():
        try:
            return Joints3D.load(path), path, True
        except LiftRigError:
            pass
    clip = load_clip(source, options, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    clip.save(path)
    return clip, path, False


def missing_modules(source) -> list[str]:
    """The modules this Python lacks for ``source`` (a joints file needs only scipy)."""
    import importlib.util

    source = Path(source)
    needed = ["scipy"]
    if source.suffix.lower() != ".npz":
        needed += ["torch", "mediapipe", "cv2"]
    else:
        if not has_joints(source):  # a keypoints-only file is lifted; a joints file is not
            needed += ["torch"]       # (an unreadable one too: load_clip then says why)
    def lacks(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is None
        except (ImportError, ValueError):
            return True

    return [m for m in needed if lacks(m)]


def solve_clip(source, rig="builtin", options: LiftOptions = LiftOptions(),
               retarget_options=None, progress: ProgressFn | None = None,
               cache_joints: bool = False):
    """The clip's joints retargeted onto ``rig`` (``"builtin"``, a preset name or a
    :class:`BoundRig`), in this Python. Returns ``(Joints3D, RetargetResult)``.
    ``cache_joints``: read / write a video's joints through :func:`load_clip_cached`."""
    from .retarget.pipeline import RetargetOptions, retarget_clip

    if cache_joints:
        clip, _, _ = load_clip_cached(source, options, progress)
    else:
        clip = load_clip(source, options, progress)
    result = retarget_clip(clip, retarget_options or RetargetOptions(), rig, progress)
    return clip, result


def bind_spec(armature, bone_map=None):
    """Bind an :class:`ArmatureSpec` to a bone map: ``None``/``"auto"`` detects the preset from
    the bone names, else a preset name or a JSON map file. Returns (BoundRig, report)."""
    from .retarget.bonemap import bind, load_bone_map_json
    from .retarget.presets import PRESETS, detect_preset, preset_bone_map
    from .retarget.rig import Rig

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
    from .motion import KeyedMotion
    from .retarget.root import PinholeCamera

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
    says which file (``joints_cache``) and whether it was there (``cache_hit``)."""
    from .retarget.pipeline import RetargetOptions, retarget_clip

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
    if not hit and _LIFTERS and _lifted(source):      # the lifter load_clip just used
        motion.device = str(next(iter(_LIFTERS.values())).device)
    motion.joints_cache = "" if cache is None else str(cache)
    motion.cache_hit = hit
    return motion


def _lifted(source) -> bool:
    """Whether :func:`load_clip` lifts ``source`` (a video or a keypoints-only file)."""
    return Path(source).suffix.lower() != ".npz" or not has_joints(source)


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
        from .errors import Cancelled

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
    from .retarget.export import write_pose_bvh

    clip, result = solve_clip(source, "builtin", options, retarget_options, progress=progress)
    write_pose_bvh(output, result.pose, clip.keypoints.fps)
    return result.summary()
