# SPDX-License-Identifier: GPL-3.0-or-later
"""The Blender shell: the only part of LiftRig that imports bpy.

Operators, the panel and jobs live here; the real work is in ``lifter`` and ``retarget``.
"""


def register():
    """Register LiftRig's Blender classes (none yet: the panel arrives with the Blender issues)."""


def unregister():
    """Unregister what :func:`register` registered."""
