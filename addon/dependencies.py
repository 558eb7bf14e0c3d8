# SPDX-License-Identifier: GPL-3.0-or-later
"""Plain logic of LiftRig's private worker environment (no bpy): command lines, pip progress."""

from __future__ import annotations

import sys
from pathlib import Path


def venv_python(venv: Path) -> Path:
    """The interpreter inside a virtual environment folder."""
    venv = Path(venv)
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"
