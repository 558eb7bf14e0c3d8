# SPDX-License-Identifier: GPL-3.0-or-later
"""Where LiftRig keeps what it downloads and computes once: the user cache folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_CACHE = "LIFTRIG_CACHE"


def cache_dir() -> Path:
    """The user cache folder for LiftRig's downloads (``LIFTRIG_CACHE`` overrides it)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "liftrig"
