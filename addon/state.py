# SPDX-License-Identifier: GPL-3.0-or-later
"""What the add-on keeps between Blender's calls, in one place: the panel's running job, its
timers and last mapping checks; the preferences' install, check and download. Blender owns the
settings (scene and preferences properties); this is the rest. Each module's ``unregister()``
ends what is left of its part (a running job, timers)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PanelState:
    job: object = None              # the running jobs.LiftJob, for the panel and the Cancel button
    # The modal operator's window timer. Blender frees a running modal operator without calling
    # its cancel() when its class is unregistered (add-on disabled mid-run), so unregister()
    # removes the timer from here.
    modal_timer: object = None
    redraw_timers: list = field(default_factory=list)   # app timers still registered
    mappings: dict = field(default_factory=dict)  # (armature, bone map) -> its last check's key


@dataclass
class Check:
    """The preferences' dependency check (the doctor's report on the worker's Python)."""

    running: bool = False
    report: dict | None = None
    python: str | None = None


@dataclass
class Download:
    """A pose model being downloaded from the preferences."""

    running: bool = False
    text: str = ""
    fraction: float = 0.0
    error: str = ""
    cancel: bool = False


@dataclass
class PreferencesState:
    install: object = None          # the dependencies.InstallJob: one install or download at a time
    check: Check = field(default_factory=Check)
    download: Download = field(default_factory=Download)
    # The modal operators' window timers. Disabling the add-on mid-run frees those operators
    # without calling their cancel(), so the preferences' unregister() removes what is left.
    timers: list = field(default_factory=list)


PANEL = PanelState()
PREFERENCES = PreferencesState()
