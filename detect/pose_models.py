# SPDX-License-Identifier: GPL-3.0-or-later
"""Finding MediaPipe pose-landmarker model files, downloading them once, safely.

``resolve_pose_model("full")`` looks, in order, at: an explicit path; the ``LIFTRIG_POSE_MODEL``
environment variable; the user cache folder; and finally downloads MediaPipe's official bundle
over HTTPS, checks its SHA-256 and moves it into the cache atomically (a failed or interrupted
download leaves nothing behind).
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import LiftRigError
from ..fileio import temporary_beside
from ..paths import cache_dir
from ..progress import ProgressFn, report

ENV_MODEL = "LIFTRIG_POSE_MODEL"
ENV_OFFLINE = "LIFTRIG_OFFLINE"


@dataclass(frozen=True)
class PoseModelSpec:
    """Where an official model file comes from and what it must hash to."""

    name: str
    url: str
    sha256: str
    size: int | None = None

    @property
    def filename(self) -> str:
        return Path(urllib.parse.urlparse(self.url).path).name


_BASE = "https://storage.googleapis.com/mediapipe-models/pose_landmarker"
# MediaPipe's official version-1 float16 bundles (Apache-2.0).
POSE_MODELS = {
    "lite": PoseModelSpec(
        "lite", f"{_BASE}/pose_landmarker_lite/float16/1/pose_landmarker_lite.task",
        "59929e1d1ee95287735ddd833b19cf4ac46d29bc7afddbbf6753c459690d574a"),
    "full": PoseModelSpec(
        "full", f"{_BASE}/pose_landmarker_full/float16/1/pose_landmarker_full.task",
        "5134a3aad27a58b93da0088d431f366da362b44e3ccfbe3462b3827a839011b1", 9_398_198),
    "heavy": PoseModelSpec(
        "heavy", f"{_BASE}/pose_landmarker_heavy/float16/1/pose_landmarker_heavy.task",
        "64437af838a65d18e5ba7a0d39b465540069bc8aae8308de3e318aad31fcbc7b", 30_664_242),
}


def check_task_bundle(path: Path, downloaded: bool) -> Path:
    """A MediaPipe ``.task`` bundle is a zip of ``.tflite`` models: refuse a truncated or
    corrupt file before MediaPipe reads it (``downloaded``: LiftRig fetched it, and may again)."""
    import zipfile

    fix = ("delete it and LiftRig downloads it again" if downloaded else
           "download the model again from its source, or use a model name (lite, full, heavy)")
    try:
        with zipfile.ZipFile(path) as bundle:
            names = bundle.namelist()
            broken = bundle.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise LiftRigError(f"{path} is not a complete MediaPipe .task file ({exc}); {fix}.") from None
    if broken is not None or not any(n.endswith(".tflite") for n in names):
        raise LiftRigError(f"{path} is damaged or holds no pose model"
                           f"{f' ({broken} is corrupt)' if broken else ''}; {fix}.")
    return path


def resolve_pose_model(model: str | os.PathLike = "full", *, download: bool = True,
                       progress: ProgressFn | None = None) -> Path:
    """The path of a pose model, given a name (lite/full/heavy) or a path to a ``.task`` file."""
    text = os.fspath(model)
    if text not in POSE_MODELS:
        path = Path(text).expanduser()
        if not path.is_file():
            raise LiftRigError(
                f"Pose model {text!r} is neither a model name (lite, full, heavy) "
                "nor an existing .task file. Check the path or use a model name.")
        return check_task_bundle(path, downloaded=False)
    if os.environ.get(ENV_MODEL):
        path = Path(os.environ[ENV_MODEL]).expanduser()
        if not path.is_file():
            raise LiftRigError(f"{ENV_MODEL} points to {path}, which does not exist. "
                               f"Fix or unset {ENV_MODEL}.")
        return check_task_bundle(path, downloaded=False)
    spec = POSE_MODELS[text]
    cached = cache_dir() / "models" / spec.filename
    if cached.is_file():
        return check_task_bundle(cached, downloaded=True)
    if not download or os.environ.get(ENV_OFFLINE):
        raise LiftRigError(
            f"The {spec.name} pose model is not in {cached.parent} and downloading is off. "
            f"Download {spec.url} there, or pass --pose-model PATH.")
    return download_file(spec.url, cached, spec.sha256, progress=progress)


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def download_file(url: str, dest: Path, sha256: str, *, timeout: float = 60.0,
                  progress: ProgressFn | None = None) -> Path:
    """Download ``url`` to ``dest`` if its SHA-256 matches; atomic, nothing left on failure.

    Only HTTPS is accepted (plain HTTP only from this machine's loopback, which tests use).
    """
    parts = urllib.parse.urlparse(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(parts.hostname)):
        raise LiftRigError(f"Refusing to download {url}: only HTTPS addresses are allowed.")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(dest)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    total = response.headers.get("Content-Length")
                    total = int(total) if total and total.isdigit() else None
                    done = 0
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        report(progress, "downloading", done, total)
                    if total is not None and done != total:
                        raise LiftRigError(
                            f"The download of {url} stopped after {done} of {total} bytes. "
                            "Check the network and try again.")
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", exc)
                raise LiftRigError(f"Could not download {url}: {reason}. Check the network "
                                   "and try again, or pass a local model file.") from None
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256.lower():
            raise LiftRigError(
                f"The file downloaded from {url} has SHA-256 {digest.hexdigest()}, "
                f"expected {sha256}: it was not saved. Try again later, or pass a local file.")
        os.replace(tmp, dest)
        return dest
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
