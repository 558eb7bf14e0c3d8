# SPDX-License-Identifier: GPL-3.0-or-later
"""LiftRig: video of a person in, an animated armature out.

The repository root is the package ``liftrig``, both for pip and as a Blender extension.
Importing it stays light: bpy, torch, mediapipe and cv2 are imported only where they are used,
so ``register()``/``unregister()`` import the Blender shell (``addon``) lazily.
"""

__version__ = "0.1.0"


def register():
    """Blender extension entry point."""
    from . import addon

    addon.register()


def unregister():
    """Blender extension exit point."""
    from . import addon

    addon.unregister()
