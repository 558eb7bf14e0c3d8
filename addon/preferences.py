# SPDX-License-Identifier: GPL-3.0-or-later
"""LiftRig's add-on preferences: where the worker's Python comes from, and the pose model.

Nothing is ever pip-installed into Blender's own Python. The worker (``python -m liftrig.worker``)
runs in either a private virtual environment that "Install dependencies" creates in the
extension's user folder, or an interpreter the user names ("Use this Python").
"""

from __future__ import annotations

import os
import sys

import bpy

PACKAGE = __package__.rpartition(".")[0]       # "liftrig", or "bl_ext.<repo>.liftrig"


def _prefs(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(PACKAGE)
    return addon.preferences if addon is not None else None


def worker_python(context=None) -> str | None:
    """The interpreter the user configured for the worker, or None (then the caller uses
    ``$LIFTRIG_WORKER_PYTHON``, else this Python)."""
    prefs = _prefs(context)
    if prefs is None:
        return None
    if prefs.python_mode == "CUSTOM":
        path = bpy.path.abspath(prefs.custom_python) if prefs.custom_python else ""
        return path or None
    from . import dependencies

    python = dependencies.venv_python(venv_dir(create=False))
    return str(python) if python.is_file() else None


def venv_dir(create: bool = False):
    from pathlib import Path

    return Path(bpy.utils.extension_path_user(PACKAGE, path="venv", create=create))


class LIFTRIG_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    python_mode: bpy.props.EnumProperty(
        name="Python",
        items=[("PRIVATE", "Private environment",
                "A virtual environment in the extension's user folder (Install dependencies)"),
               ("CUSTOM", "Use this Python",
                "An interpreter that already has LiftRig's requirements")],
        default="PRIVATE")
    custom_python: bpy.props.StringProperty(name="Interpreter", subtype="FILE_PATH")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "python_mode", expand=True)
        if self.python_mode == "CUSTOM":
            layout.prop(self, "custom_python")


CLASSES = (LIFTRIG_AP_preferences,)
