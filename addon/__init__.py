# SPDX-License-Identifier: GPL-3.0-or-later
"""The Blender shell: the only part of LiftRig that imports bpy.

The work lives in plain modules that know nothing of the UI: ``animation`` (motion onto an
armature, all or nothing), ``keyframes`` (bulk F-curve writing), ``export`` (FBX/BVH/.blend) and
``batch`` (the headless command). Registering stays cheap: those load when first used.
The UI: ``preferences`` (where the worker's Python comes from), ``panel`` (the "Lift video
to rig" panel, driving ``jobs`` in the background) and ``settings`` (what the panel asks for).
"""

_cli_handle = None


def _liftrig_command(argv) -> int:
    """``blender -b --command liftrig ...``: see :mod:`.batch`."""
    from .batch import cli_command

    return cli_command(argv)


def _preference_classes() -> tuple:
    try:
        from . import preferences
    except ImportError:
        return ()
    return tuple(getattr(preferences, "CLASSES", ()))


def register():
    """Register LiftRig's Blender parts: the preferences, the panel and its operators, the
    ``liftrig`` command line command."""
    global _cli_handle
    import bpy

    from . import panel

    for cls in _preference_classes():
        bpy.utils.register_class(cls)
    panel.register()

    if _cli_handle is None and hasattr(bpy.utils, "register_cli_command"):
        _cli_handle = bpy.utils.register_cli_command("liftrig", _liftrig_command)


def unregister():
    """Unregister what :func:`register` registered, in reverse order."""
    global _cli_handle
    import bpy

    from . import panel

    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    panel.unregister()
    for cls in reversed(_preference_classes()):
        bpy.utils.unregister_class(cls)
