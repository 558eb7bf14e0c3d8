# SPDX-License-Identifier: GPL-3.0-or-later
"""Errors a user can act on.

Raise :class:`LiftRigError` for anything caused by the user's input (a missing file, a video
with nobody in it, a corrupt model): the command line prints its message on one line and exits
non-zero, and the Blender extension shows it as a report. Anything else is a bug and keeps its
traceback.
"""


class LiftRigError(Exception):
    """A problem with the user's input, with a message that names the problem and the fix."""


class Cancelled(Exception):
    """The user cancelled a long job (Ctrl+C in the terminal, Esc or Cancel in Blender)."""
