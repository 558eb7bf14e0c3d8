# SPDX-License-Identifier: GPL-3.0-or-later
"""A clip's 3D joints: video (or a keypoints / joints ``.npz``) -> 2D keypoints -> 3D joints,
in this Python, and the joints cache that lets a video be lifted once and retargeted many times.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import LiftRigError
from ..formats import Joints3D, Keypoints2D, has_joints
from ..options import LiftOptions
from ..progress import ProgressFn

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
    from ..lifter.inference import load_lifter

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
        from ..detect.keypoints import extract_keypoints

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

    from ..fileio import atomic_write
    from ..paths import cache_dir

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

    from ..detect.pose_models import ENV_MODEL, POSE_MODELS
    from ..paths import cache_dir

    pose_model = str(options.pose_model)
    if pose_model not in POSE_MODELS:                 # a .task file: its content
        pose_model = file_digest(Path(pose_model).expanduser())
    elif os.environ.get(ENV_MODEL) and Path(os.environ[ENV_MODEL]).is_file():
        pose_model = file_digest(os.environ[ENV_MODEL])
    if options.weights is None:
        from ..lifter.default_weights import find_default_weights
        from ..lifter.inference import DEFAULT_WEIGHTS

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
    from ..progress import report

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


def _lifted(source) -> bool:
    """Whether :func:`load_clip` lifts ``source`` (a video or a keypoints-only file)."""
    return Path(source).suffix.lower() != ".npz" or not has_joints(source)


def lifting_device(source) -> str | None:
    """The device of the lifter that :func:`load_clip` used for ``source``; None when ``source``
    is a joints file (nothing was lifted) or nothing was loaded."""
    if not _LIFTERS or not _lifted(source):
        return None
    return str(next(iter(_LIFTERS.values())).device)
