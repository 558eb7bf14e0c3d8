# SPDX-License-Identifier: GPL-3.0-or-later
"""Where LiftRig's default lifter weights are, and how a user installs them (no torch here).

The weights are CC BY-NC 4.0 (non-commercial), because they learn from the Bandai Namco
Research Motion Dataset. The pip package and a git checkout carry them
(``lifter/weights/default.safetensors``); the Blender extension does not, since Blender's
extension platform asks for bundled assets free of licence restrictions. There the preferences
install them once into the user cache from a file the user chose, after showing the licence;
the file must be exactly the released one (its SHA-256 is checked) and is copied atomically.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from ..errors import LiftRigError
from ..fileio import atomic_write

PACKAGED = Path(__file__).resolve().parent / "weights" / "default.safetensors"
FILE_NAME = "liftrig-default.safetensors"
# The released default weights (a test keeps it equal to the packaged file).
SHA256 = "5c6a31b4dff1d45fc931657090a8fe1c55a0641843b20cf3d296bd1597a3372b"
LICENSE = "CC BY-NC 4.0"
LICENSE_TEXT = ("The default lifter's weights are licensed CC BY-NC 4.0: non-commercial use "
                "only (they learn from the Bandai Namco Research Motion Dataset). LiftRig's "
                "code is GPL-3.0-or-later.")


def installed_path() -> Path:
    """Where the preferences install the weights: the user cache."""
    from ..paths import cache_dir

    return cache_dir() / "weights" / FILE_NAME


def find_default_weights(packaged: Path | None = None) -> Path | None:
    """The default weights: the package's own file (pip, git; ``packaged`` overrides where),
    else the installed copy."""
    for path in (packaged or PACKAGED, installed_path()):
        if path.is_file():
            return path
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_default_weights(source, expected_sha256: str = SHA256) -> Path:
    """Copy the user's file of the released default weights into the user cache, atomically,
    after checking that it is exactly that file; returns the installed path."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise LiftRigError(f"{source} is not a file: choose the released {FILE_NAME}")
    actual = file_sha256(source)
    if actual != expected_sha256:
        raise LiftRigError(f"{source.name} is not LiftRig's released default weights (its "
                           f"SHA-256 is {actual[:12]}..., expected {expected_sha256[:12]}...): "
                           f"choose the {FILE_NAME} of this LiftRig version")
    target = installed_path()
    with open(source, "rb") as src, atomic_write(target) as out:
        shutil.copyfileobj(src, out)
    return target
