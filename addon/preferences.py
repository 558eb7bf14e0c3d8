# SPDX-License-Identifier: GPL-3.0-or-later
"""LiftRig's add-on preferences: where the worker's Python comes from, and the pose model.

Nothing is ever pip-installed into Blender's own Python. The worker (``python -m liftrig.pipeline.worker``)
runs in either

* a private virtual environment that "Install dependencies" builds in the extension's user
  folder (``bpy.utils.extension_path_user``) with Blender's own interpreter, torch CPU or CUDA,
  as a background job with progress and Cancel, only when "Allow Online Access" is on; or
* an interpreter the user names ("Use this Python"), for example the README's ``.venv``.

"Check" runs ``python -m liftrig.pipeline.worker --check doctor`` with that interpreter and shows what works.
The plain logic (command lines, pip progress, the link that lets the venv import ``liftrig``)
lives in :mod:`.dependencies`, which does not import bpy.
"""

from __future__ import annotations

import os
import sys
import textwrap
import threading
from pathlib import Path

import bpy

from . import dependencies
from .state import PREFERENCES, Check, Download

PACKAGE = __package__.rpartition(".")[0]       # "liftrig", or "bl_ext.<repo>.liftrig"


def _add_timer(context):
    timer = context.window_manager.event_timer_add(0.25, window=context.window)
    PREFERENCES.timers.append(timer)
    return timer


def _remove_timer(context, timer) -> None:
    if timer is not None:
        PREFERENCES.timers[:] = [t for t in PREFERENCES.timers if t is not timer]
        context.window_manager.event_timer_remove(timer)


# -- what the rest of the add-on asks -------------------------------------------------------

def preferences(context=None):
    """This add-on's preferences, or None when it is not enabled as an add-on."""
    context = context or bpy.context
    addon = context.preferences.addons.get(PACKAGE)
    return addon.preferences if addon is not None else None


def user_dir(sub: str, create: bool = False) -> Path:
    """A folder of the extension's own user data (outside the extension, kept on upgrade)."""
    try:
        return Path(bpy.utils.extension_path_user(PACKAGE, path=sub, create=create))
    except ValueError:                  # loaded as a plain add-on, not as an extension
        path = Path(bpy.utils.user_resource("CONFIG")) / "liftrig" / sub
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path


def venv_dir(create: bool = False) -> Path:
    if create:
        user_dir("", create=True)
    return user_dir("venv")


def shim_dir() -> Path:
    return user_dir("pythonpath")


def worker_python(context=None) -> str | None:
    """The interpreter the user configured for the worker: the private environment's Python
    once installed, or the "Use this Python" path; else None (the caller then uses
    ``$LIFTRIG_WORKER_PYTHON``, else this Python)."""
    prefs = preferences(context)
    if prefs is None:
        return None
    if prefs.python_mode == "CUSTOM":
        path = bpy.path.abspath(prefs.custom_python) if prefs.custom_python else ""
        return os.path.normpath(path) if path else None
    python = dependencies.installed_python(venv_dir())
    return str(python) if python is not None else None


def resolved_worker_python(context=None) -> str:
    """:func:`worker_python` with the fallbacks of
    :func:`liftrig.pipeline.solve.choose_worker_python`; this Python even when it lacks modules (the
    check then says which)."""
    from ..errors import LiftRigError
    from ..pipeline.solve import choose_worker_python

    try:
        return choose_worker_python(worker_python(context), in_process=False)
    except LiftRigError:
        return sys.executable


def extension_env(context=None) -> dict:
    """The environment to start the worker with: the extension's ``liftrig`` first on
    ``PYTHONPATH`` (an interpreter the user picked is never modified), no user site-packages,
    and ``LIFTRIG_OFFLINE=1`` while Blender's "Allow Online Access" is off."""
    try:
        shim = dependencies.link_package(dependencies.package_dir(), shim_dir())
    except OSError as exc:                  # the interpreter may still have liftrig itself
        print(f"LiftRig: could not link the package for the worker: {exc}", file=sys.stderr)
        shim = None
    env = dependencies.env_with_package(shim)
    if not bpy.app.online_access:
        env["LIFTRIG_OFFLINE"] = "1"
    return env


def jobs_choice(context=None, jobs: int = 0) -> int | None:
    """The 2D processes for a run: ``jobs`` when the panel sets it, else the preferences'
    (0 there too: None, every core)."""
    if jobs > 0:
        return jobs
    prefs = preferences(context)
    return prefs.jobs if prefs is not None and prefs.jobs > 0 else None


def pose_model_choice(context=None, name: str = "full") -> str:
    """The pose model to pass the pipeline: the local .task file the preferences name, or
    ``name`` (lite/full/heavy: taken from the user cache, downloaded there once if missing)."""
    prefs = preferences(context)
    if prefs is not None and prefs.pose_model_source == "LOCAL" and prefs.pose_model_path:
        return bpy.path.abspath(prefs.pose_model_path)
    return name


def _redraw_preferences():
    wm = getattr(bpy.context, "window_manager", None)
    for window in (wm.windows if wm else ()):
        for area in window.screen.areas:
            if area.type == "PREFERENCES":
                area.tag_redraw()


def _offline_message() -> str:
    return ("Online access is off: turn on Preferences > System > Network > Allow Online "
            "Access to download, or use \"Use this Python\" / a local model file.")


# -- operators ------------------------------------------------------------------------------

class LIFTRIG_OT_install_dependencies(bpy.types.Operator):
    """Create LiftRig's private Python environment (torch, MediaPipe, OpenCV, SciPy) in the
    extension's user folder. Blender's own Python is not changed"""

    bl_idname = "liftrig.install_dependencies"
    bl_label = "Install Dependencies"
    bl_options = {"INTERNAL"}    # not REGISTER: Repeat Last (Shift+R) must not re-run it blocking

    _timer = None

    def _start(self, context):
        if not bpy.app.online_access:
            self.report({"ERROR"}, _offline_message())
            return None
        if PREFERENCES.install is not None and not PREFERENCES.install.state.done:
            self.report({"WARNING"}, "The dependencies are already being installed")
            return None
        prefs = preferences(context)
        build = prefs.torch_build if prefs is not None else "CPU"
        if build != "CPU" and sys.platform == "darwin":
            self.report({"ERROR"}, "There is no CUDA build of PyTorch for macOS: choose CPU")
            return None
        venv = venv_dir(create=True)
        staging, steps = dependencies.install_plan(
            sys.executable, venv, shim_dir(), dependencies.package_dir(), torch_build=build)
        PREFERENCES.install = dependencies.InstallJob(
            staging, steps, log_path=user_dir("logs") / "install.log").start()
        PREFERENCES.check.report = None
        return PREFERENCES.install

    def execute(self, context):             # blocking: scripts and --background
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        state = job.wait()
        return self._finish(state)

    def invoke(self, context, event):       # the button: a job polled from a timer
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        self._timer = _add_timer(context)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and PREFERENCES.install is not None:
            PREFERENCES.install.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        _redraw_preferences()
        if PREFERENCES.install is None or not PREFERENCES.install.state.done:
            return {"PASS_THROUGH"}
        _remove_timer(context, self._timer)
        return self._finish(PREFERENCES.install.state)

    def cancel(self, context):              # the window closed: the job goes on, shown later
        _remove_timer(context, self._timer)

    def _finish(self, state):
        _redraw_preferences()
        if state.ok:
            self.report({"INFO"}, f"LiftRig's dependencies are installed in {venv_dir()}")
            return {"FINISHED"}
        if state.cancelled:
            self.report({"WARNING"}, "Install cancelled; the previous environment is unchanged")
            return {"CANCELLED"}
        self.report({"ERROR"}, f"Install failed: {state.error} (log: "
                    f"{PREFERENCES.install.log_path if PREFERENCES.install else ''})")
        return {"CANCELLED"}


class LIFTRIG_OT_cancel_install(bpy.types.Operator):
    """Stop the running install (or model download); nothing half-done is kept"""

    bl_idname = "liftrig.cancel_install"
    bl_label = "Cancel"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        if PREFERENCES.install is not None and not PREFERENCES.install.state.done:
            PREFERENCES.install.cancel()
        PREFERENCES.download.cancel = True
        return {"FINISHED"}


class LIFTRIG_OT_check_dependencies(bpy.types.Operator):
    """Run the worker's Python once (its worker's ``--check doctor``) and show what works: torch and
    its device, MediaPipe, OpenCV, SciPy, the pose model, the default lifter weights"""

    bl_idname = "liftrig.check_dependencies"
    bl_label = "Check"
    bl_options = {"INTERNAL"}    # not REGISTER: Repeat Last (Shift+R) must not re-run it blocking

    _timer = None
    _thread = None

    def _run(self, python, env, pose_model):
        try:
            PREFERENCES.check.report = dependencies.run_doctor(python, env=env, pose_model=pose_model)
        finally:
            PREFERENCES.check.running = False

    def _begin(self, context):
        if PREFERENCES.check.running:
            return None
        python = resolved_worker_python(context)
        prefs = preferences(context)
        pose_model = (pose_model_choice(context, "full")
                      if prefs is not None and prefs.pose_model_source == "LOCAL" else None)
        env = extension_env(context)
        PREFERENCES.check = Check(running=True, python=python)
        return threading.Thread(target=self._run, args=(python, env, pose_model), daemon=True)

    def execute(self, context):
        thread = self._begin(context)
        if thread is None:
            return {"CANCELLED"}
        thread.start()
        thread.join()
        return self._finish()

    def invoke(self, context, event):
        thread = self._begin(context)
        if thread is None:
            return {"CANCELLED"}
        thread.start()
        self._timer = _add_timer(context)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if PREFERENCES.check.running:
            return {"PASS_THROUGH"}
        _remove_timer(context, self._timer)
        return self._finish()

    def cancel(self, context):
        _remove_timer(context, self._timer)

    def _finish(self):
        _redraw_preferences()
        report = PREFERENCES.check.report or {"ok": False, "problems": ["the check did not run"]}
        if report.get("ok"):
            versions = report.get("versions", {})
            self.report({"INFO"}, f"LiftRig's worker is ready: torch {versions.get('torch')} "
                        f"on {report.get('device')}, MediaPipe {versions.get('mediapipe')} "
                        f"({PREFERENCES.check.python})")
        else:
            self.report({"ERROR"}, "LiftRig's worker is not ready: "
                        + "; ".join(report.get("problems", [])))
        return {"FINISHED"}


class LIFTRIG_OT_download_pose_model(bpy.types.Operator):
    """Download a MediaPipe pose model once into the user cache (its SHA-256 checked)"""

    bl_idname = "liftrig.download_pose_model"
    bl_label = "Download Pose Model"
    bl_options = {"INTERNAL"}

    model: bpy.props.EnumProperty(items=[("lite", "Lite", ""), ("full", "Full", ""),
                                         ("heavy", "Heavy", "")], default="full")
    _timer = None

    def _run(self, model):
        from ..errors import Cancelled, LiftRigError
        from ..detect.pose_models import resolve_pose_model

        def progress(stage, done, total):
            if PREFERENCES.download.cancel:
                raise Cancelled()
            PREFERENCES.download.text = f"Downloading the {model} pose model"
            PREFERENCES.download.fraction = done / total if total else 0.0

        try:
            resolve_pose_model(model, download=True, progress=progress)
            PREFERENCES.download.text = f"The {model} pose model is in the cache"
        except Cancelled:
            PREFERENCES.download.text = "Download cancelled"
        except LiftRigError as exc:
            PREFERENCES.download.error = str(exc)
        finally:
            PREFERENCES.download.running = False

    def invoke(self, context, event):
        if not bpy.app.online_access:
            self.report({"ERROR"}, _offline_message())
            return {"CANCELLED"}
        if PREFERENCES.download.running:
            return {"CANCELLED"}
        PREFERENCES.download = Download(running=True, text="Starting")
        threading.Thread(target=self._run, args=(self.model,), daemon=True).start()
        self._timer = _add_timer(context)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):             # blocking: scripts and --background
        if not bpy.app.online_access:
            self.report({"ERROR"}, _offline_message())
            return {"CANCELLED"}
        PREFERENCES.download = Download(running=True, text="Starting")
        self._run(self.model)
        return self._report()

    def modal(self, context, event):
        if event.type == "ESC":
            PREFERENCES.download.cancel = True
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        _redraw_preferences()
        if PREFERENCES.download.running:
            return {"PASS_THROUGH"}
        _remove_timer(context, self._timer)
        return self._report()

    def cancel(self, context):
        _remove_timer(context, self._timer)

    def _report(self):
        if PREFERENCES.download.error:
            self.report({"ERROR"}, PREFERENCES.download.error)
            return {"CANCELLED"}
        self.report({"INFO"}, PREFERENCES.download.text)
        return {"FINISHED"}


# -- the preferences ------------------------------------------------------------------------

# Static items (a dynamic items callback must keep its strings alive, and saved preferences
# store the item's index): CUDA is refused at install time where there is none (macOS).
TORCH_BUILDS = [
    ("CPU", "CPU", "PyTorch for the processor: works everywhere, slower lifting"),
    ("CU128", "CUDA 12.8", "PyTorch for NVIDIA GPUs (Linux/Windows, driver 570 or newer)"),
    ("CU130", "CUDA 13.0", "PyTorch for recent NVIDIA GPUs (Linux/Windows, driver 580 or newer)"),
]


class LIFTRIG_OT_install_default_weights(bpy.types.Operator):
    """Install LiftRig's default lifter from the released file (its SHA-256 is checked). The
    weights are CC BY-NC 4.0: non-commercial use only"""

    bl_idname = "liftrig.install_default_weights"
    bl_label = "Install Default Lifter"
    bl_options = {"INTERNAL"}

    filepath: bpy.props.StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})
    filter_glob: bpy.props.StringProperty(default="*.safetensors", options={"HIDDEN"})

    def invoke(self, context, event):       # the button: a file browser first
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        from ..errors import LiftRigError
        from ..lifter.default_weights import install_default_weights

        if not self.filepath:
            self.report({"ERROR"}, "Choose the default lifter's file (liftrig-default.safetensors)")
            return {"CANCELLED"}
        try:
            target = install_default_weights(bpy.path.abspath(self.filepath))
        except LiftRigError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Default lifter installed: {target}")
        _redraw_preferences()
        return {"FINISHED"}


class LIFTRIG_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = PACKAGE

    python_mode: bpy.props.EnumProperty(
        name="Worker Python",
        items=[("PRIVATE", "Private environment",
                "A virtual environment in the extension's user folder, made by Install "
                "Dependencies"),
               ("CUSTOM", "Use this Python",
                "An interpreter that already has LiftRig's requirements (e.g. a .venv)")],
        default="PRIVATE")
    custom_python: bpy.props.StringProperty(
        name="Python", subtype="FILE_PATH",
        description="Path of a Python 3.11 interpreter with torch, mediapipe, opencv-python<4.12,"
                    " numpy 1.26, scipy (for example LiftRig's .venv/bin/python)")
    torch_build: bpy.props.EnumProperty(name="PyTorch", items=TORCH_BUILDS, default="CPU",
                                        description="Which PyTorch build to install")
    pose_model_source: bpy.props.EnumProperty(
        name="Pose Model",
        items=[("CACHE", "Download once",
                "MediaPipe's official model, downloaded into the user cache with its checksum"),
               ("LOCAL", "Local file", "A MediaPipe pose landmarker .task file on this computer")],
        default="CACHE")
    pose_model_path: bpy.props.StringProperty(name="Model File", subtype="FILE_PATH")
    jobs: bpy.props.IntProperty(
        name="2D Jobs", default=0, min=0, max=1024,
        description="Processes that detect chunks of a video at once (0 = every core this "
                    "computer lets Blender use). Clips under 10 s at 30 fps use one")

    @classmethod
    def unregister(cls):
        """Disabling the add-on (or quitting) stops a running install or download: the
        half-built ``venv.new`` is removed, the working environment stays."""
        if PREFERENCES.install is not None and not PREFERENCES.install.state.done:
            PREFERENCES.install.cancel()
            PREFERENCES.install.wait(5)
        PREFERENCES.download.cancel = True
        wm = getattr(bpy.context, "window_manager", None)
        while PREFERENCES.timers:
            timer = PREFERENCES.timers.pop()
            if wm is not None:
                wm.event_timer_remove(timer)

    def draw(self, context):
        layout = self.layout
        box = layout.box()
        box.label(text="Worker Python (runs pose detection and lifting outside Blender)")
        box.row().prop(self, "python_mode", expand=True)
        if self.python_mode == "CUSTOM":
            box.prop(self, "custom_python")
            path = bpy.path.abspath(self.custom_python) if self.custom_python else ""
            if not path or not os.path.isfile(path):
                box.label(text="Choose a Python interpreter file (e.g. .venv/bin/python)",
                          icon="ERROR")
        else:
            self._draw_private(context, box)
        row = box.row()
        row.enabled = not PREFERENCES.check.running
        row.operator(LIFTRIG_OT_check_dependencies.bl_idname,
                     text="Checking..." if PREFERENCES.check.running else "Check", icon="VIEWZOOM")
        self._draw_check(box)

        box = layout.box()
        box.label(text="MediaPipe pose model")
        box.row().prop(self, "pose_model_source", expand=True)
        if self.pose_model_source == "LOCAL":
            box.prop(self, "pose_model_path")
        else:
            self._draw_models(box)
        box.prop(self, "jobs")
        self._draw_default_weights(layout.box())

    def _draw_default_weights(self, box):
        from ..lifter.default_weights import LICENSE_TEXT, find_default_weights

        box.label(text="Default lifter")
        col = box.column(align=True)
        for line in textwrap.wrap(LICENSE_TEXT, 90):
            col.label(text=line)
        found = find_default_weights()
        if found:
            box.label(text=f"Installed: {found}", icon="CHECKMARK")
            return
        box.label(text="Not included in the extension (its licence is not free): install the "
                       "released liftrig-default.safetensors once", icon="ERROR")
        box.operator(LIFTRIG_OT_install_default_weights.bl_idname,
                     text="Install from File...", icon="IMPORT")

    def _draw_private(self, context, box):
        venv = venv_dir()
        marker = dependencies.read_marker(venv)
        box.prop(self, "torch_build")
        if PREFERENCES.install is not None and not PREFERENCES.install.state.done:
            row = box.row()
            row.progress(factor=PREFERENCES.install.state.fraction, type="BAR", text=PREFERENCES.install.state.text)
            row.operator(LIFTRIG_OT_cancel_install.bl_idname, text="", icon="CANCEL")
            return
        col = box.column(align=True)
        if marker:
            col.label(text=f"Installed {marker.get('created', '')}: {marker.get('torch')} "
                           f"({marker.get('torch_build')})", icon="CHECKMARK")
        else:
            col.label(text="Not installed yet", icon="INFO")
        col.label(text=str(venv))
        if PREFERENCES.install is not None and PREFERENCES.install.state.done and not PREFERENCES.install.state.ok:
            col.label(text=PREFERENCES.install.state.error or PREFERENCES.install.state.text, icon="ERROR")
        row = box.row()
        row.enabled = bool(bpy.app.online_access)
        row.operator(LIFTRIG_OT_install_dependencies.bl_idname,
                     text="Reinstall Dependencies" if marker else "Install Dependencies",
                     icon="IMPORT")
        if not bpy.app.online_access:
            box.label(text="Needs Preferences > System > Network > Allow Online Access",
                      icon="INTERNET_OFFLINE")

    def _draw_check(self, box):
        report = PREFERENCES.check.report
        if not report:
            return
        col = box.column(align=True)
        for c in report.get("checks", []):
            icon = "CHECKMARK" if c["ok"] else ("INFO" if not c["needed"] else "ERROR")
            col.label(text=f"{c['name']}: {c['detail']}", icon=icon)
        for problem in report.get("problems", []) if not report.get("checks") else ():
            col.label(text=problem, icon="ERROR")

    def _draw_models(self, box):
        from ..detect.pose_models import POSE_MODELS, cache_dir

        if PREFERENCES.download.running:
            row = box.row()
            row.progress(factor=PREFERENCES.download.fraction, type="BAR", text=PREFERENCES.download.text)
            row.operator(LIFTRIG_OT_cancel_install.bl_idname, text="", icon="CANCEL")
        elif PREFERENCES.download.error:
            box.label(text=PREFERENCES.download.error, icon="ERROR")
        row = box.row(align=True)
        for name, spec in POSE_MODELS.items():
            cached = (cache_dir() / "models" / spec.filename).is_file()
            sub = row.row(align=True)
            sub.enabled = not cached and bool(bpy.app.online_access) and not PREFERENCES.download.running
            op = sub.operator(LIFTRIG_OT_download_pose_model.bl_idname,
                              text=f"{name.title()}: cached" if cached else f"Get {name.title()}",
                              icon="CHECKMARK" if cached else "IMPORT")
            op.model = name
        box.label(text=f"Cache: {cache_dir() / 'models'}")


CLASSES = (
    LIFTRIG_AP_preferences,
    LIFTRIG_OT_install_dependencies,
    LIFTRIG_OT_cancel_install,
    LIFTRIG_OT_check_dependencies,
    LIFTRIG_OT_download_pose_model,
    LIFTRIG_OT_install_default_weights,
)
