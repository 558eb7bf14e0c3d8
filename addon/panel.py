# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Lift video to rig" panel (3D Viewport sidebar, tab "LiftRig") and its operators; the
settings they read and fill (``scene.liftrig``) are declared in :mod:`.settings`.

The operators are thin: :class:`LIFTRIG_OT_lift_video` builds a :class:`.jobs.LiftJob` from
the settings and, when invoked from the UI, polls it from a window timer (the viewport stays
usable; Esc or the Cancel button stop it); without a window it runs the job to the end.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, PointerProperty, StringProperty

from ..errors import LiftRigError
from . import jobs
from .settings import (LiftRigSettings, abspath, job_from_settings, probe_python, redraw_panels,
                       redraw_when, store_result)
from .state import PANEL



def active_job():
    return PANEL.job


# --- operators --------------------------------------------------------------------------------

def step(context, job: jobs.LiftJob) -> str:
    """One timer tick of the modal operator: poll the job, show its progress in the status
    bar and the panel. Returns the job's state. (Not ``WindowManager.progress_update``: it
    turns the mouse cursor into a counter, which is for blocking work, not a job that leaves
    the viewport usable.)"""
    state = job.poll()
    text = job.status_text() if state == jobs.RUNNING else None
    workspace = getattr(context, "workspace", None)
    if workspace is not None:
        workspace.status_text_set(text)
    redraw_panels()
    return state


def finish(operator, context, job: jobs.LiftJob) -> set:
    """Report the job's end as Blender reports; store its figures (in the job's scene, which
    need not be the window's by now); forget it."""
    PANEL.job = None
    store_result(bpy.data.scenes.get(job.scene_name) or context.scene, job)
    if job.state == jobs.FINISHED:
        operator.report({"INFO"}, job.message + (f"; {job.result.report}"
                                                 if job.result.report else ""))
        return {"FINISHED"}
    if job.state == jobs.CANCELLED:
        operator.report({"WARNING"}, "LiftRig: " + job.message)
        return {"CANCELLED"}
    operator.report({"ERROR"}, job.message)
    return {"CANCELLED"}


def _playing(context) -> bool:
    """Whether the animation plays: then Esc is the user stopping playback (window modal
    handlers see it before the screen's keymap), not a request to throw the run away."""
    screen = getattr(context, "screen", None)
    return bool(screen is not None and screen.is_animation_playing)


class LIFTRIG_OT_lift_video(bpy.types.Operator):
    """Lift the person in the video onto the target armature, in the background"""

    bl_idname = "liftrig.lift_video"
    bl_label = "Lift video to rig"
    bl_options = {"REGISTER", "UNDO"}     # the keys are written in one step: one undo step

    _timer = None

    @classmethod
    def poll(cls, context):
        job = active_job()
        return context.scene is not None and (job is None or not job.running)

    def _start(self, context):
        try:
            job = job_from_settings(context)
            job.start()
        except LiftRigError as exc:
            context.scene.liftrig.result_error = str(exc)
            self.report({"ERROR"}, str(exc))
            return None
        context.scene.liftrig.result_error = ""
        PANEL.job = job
        return job

    def execute(self, context):
        """Without a window (scripts, background mode): run to the end, blocking."""
        options = getattr(self, "options", None)
        if getattr(options, "is_repeat_last", False) or getattr(options, "is_repeat", False):
            # Repeat Last (Shift+R) calls execute(): minutes of a frozen Blender, no Esc.
            self.report({"WARNING"}, "LiftRig: start the lift from the panel (it runs in the "
                                     "background there)")
            return {"CANCELLED"}
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        try:
            job.wait()
        except KeyboardInterrupt:
            job.cancel()
            job.join(5.0)
        return finish(self, context, job)

    def invoke(self, context, event):
        if context.window is None:
            return self.execute(context)
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        try:
            step(context, job)
        except BaseException:         # before modal_handler_add: it must end RUNNING_MODAL
            self.cancel(context)
            raise
        wm = context.window_manager
        self._timer = PANEL.modal_timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = active_job()
        if job is None:                                  # should not happen; end quietly
            self._cleanup(context)
            return {"CANCELLED"}
        try:
            if event.type == "ESC" and event.value == "PRESS" and not _playing(context):
                job.cancel()
            elif event.type != "TIMER" and job.running:
                return {"PASS_THROUGH"}                  # the viewport stays usable
            if step(context, job) == jobs.RUNNING:
                return {"RUNNING_MODAL"} if event.type == "ESC" else {"PASS_THROUGH"}
        except BaseException:                            # a bug: Blender drops the operator
            self.cancel(context)
            raise
        self._cleanup(context)
        return finish(self, context, job)

    def cancel(self, context):
        """Blender ends the operator without modal(): its window closed, another file is
        loading, Blender quits. Stop the job (nothing would poll it any more) and clean up."""
        job = active_job()
        if job is not None:
            job.cancel()
            PANEL.job = None
        self._cleanup(context)

    def _cleanup(self, context):
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            if PANEL.modal_timer is self._timer:
                PANEL.modal_timer = None
            self._timer = None
        if getattr(context, "workspace", None) is not None:
            context.workspace.status_text_set(None)
        redraw_panels()


class LIFTRIG_OT_cancel_lift(bpy.types.Operator):
    """Stop the running lift; the scene stays as it was"""

    bl_idname = "liftrig.cancel_lift"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        job = active_job()
        return job is not None and job.running

    def execute(self, context):
        active_job().cancel()
        return {"FINISHED"}




def _bone_map(settings):
    return abspath(settings.bone_map_file) or None if settings.bone_map == "FILE" else None


class LIFTRIG_OT_check_mapping(bpy.types.Operator):
    """Check how the active armature maps to LiftRig's joints: the preset found and the bones
    that will not be driven (run in the worker's Python)"""

    bl_idname = "liftrig.check_mapping"
    bl_label = "Check Bone Map"

    wait: BoolProperty(default=False, options={"HIDDEN", "SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.type == "ARMATURE"

    def execute(self, context):
        from .animation import armature_spec

        obj = context.active_object
        bone_map = _bone_map(context.scene.liftrig)
        try:
            spec = armature_spec(obj)
        except LiftRigError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        python = probe_python(context)
        key = jobs.mapping_key(spec, bone_map)
        info = jobs.mapping_info(spec, bone_map, python, wait=self.wait,
                                 env=lambda: jobs.worker_env(context))
        if python is not None:
            PANEL.mappings[(obj.name, bone_map)] = (key, python)
        if info is None:
            redraw_when(lambda: jobs.known(key, python) is not None)
            return {"FINISHED"}
        if "error" in info:
            self.report({"ERROR"}, info["error"])
            return {"CANCELLED"}
        self.report({"INFO"}, info["report"])
        return {"FINISHED"}


def export_path(filepath: str, fmt: str) -> str:
    """``filepath`` with the extension of ``fmt`` (FBX/BVH): an export extension is replaced
    (``walk.fbx`` -> ``walk.bvh``), any other name gets it added."""
    if not filepath:
        return filepath
    suffix = "." + fmt.lower()
    stem, ext = os.path.splitext(filepath)
    return stem + suffix if ext.lower() in (".fbx", ".bvh") else filepath + suffix


class LIFTRIG_OT_export_result(bpy.types.Operator):
    """Export the last lifted armature and its action"""

    bl_idname = "liftrig.export_result"
    bl_label = "Export"

    format: EnumProperty(items=(("FBX", "FBX", ""), ("BVH", "BVH", "")), default="FBX")
    filepath: StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})
    filter_glob: StringProperty(default="*.fbx;*.bvh", options={"HIDDEN"})
    check_existing: BoolProperty(default=True, options={"HIDDEN"})   # the browser warns

    @classmethod
    def poll(cls, context):
        return context.scene.liftrig.result_armature is not None

    def invoke(self, context, event):
        s = context.scene.liftrig
        suffix = "." + self.format.lower()
        name = s.result_armature.name.removesuffix(" rig")
        if not self.filepath:
            self.filepath = bpy.path.ensure_ext(name, suffix)
        self.filter_glob = "*" + suffix
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def check(self, context):
        """The file browser calls this as the name is edited: keep the format's extension."""
        path = export_path(self.filepath, self.format)
        changed = path != self.filepath
        self.filepath = path
        return changed

    def execute(self, context):
        from .export import export_bvh, export_fbx

        s = context.scene.liftrig
        path = Path(export_path(abspath(self.filepath), self.format))
        try:
            if self.format == "FBX":
                export_fbx(s.result_armature, path, context.scene)
            else:
                export_bvh(s.result_armature, path, scene=context.scene)
        except LiftRigError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"exported {path}")
        return {"FINISHED"}


# --- the panel --------------------------------------------------------------------------------

def _wrapped(layout, text: str, width: int = 48) -> None:
    import textwrap

    col = layout.column(align=True)
    for part in text.split("; "):
        for line in textwrap.wrap(part, width) or [""]:
            col.label(text=line)


class VIEW3D_PT_liftrig_lift(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "LiftRig"
    bl_label = "Lift video to rig"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        s = context.scene.liftrig
        _draw_video(layout, context, s)
        _draw_stages(layout, s)
        _draw_target(layout, context, s)
        _draw_run(layout)
        _draw_result(layout, s)


def _draw_video(layout, context, s) -> None:
    """The video, what the worker's probe says of it, and the frame range."""
    layout.prop(s, "video")
    video = abspath(s.video)
    if video:
        info = jobs.video_info(video, probe_python(context), env=lambda: jobs.worker_env(context))
        if info is None:
            layout.label(text="Reading the video...", icon="TIME")
        elif "error" in info:
            _wrapped(layout.box(), info["error"])
        else:
            layout.label(text=f"{info['frames']} frames, {info['fps']:g} fps, "
                              f"{info['width']} x {info['height']}", icon="FILE_MOVIE")
    row = layout.row(heading="Frame Range")
    row.prop(s, "use_range", text="")
    sub = row.row(align=True)
    sub.active = s.use_range
    sub.prop(s, "range_start", text="")
    sub.prop(s, "range_end", text="")


def _draw_stages(layout, s) -> None:
    """The options of the 2D stage, the lifter and the motion."""
    layout.prop(s, "person_mode")
    if s.person_mode == "NUMBER":
        layout.prop(s, "person")
    layout.prop(s, "pose_model")
    layout.prop(s, "jobs")
    layout.prop(s, "lifter")
    if s.lifter == "FILE":
        layout.prop(s, "lifter_file")
    layout.prop(s, "device")
    col = layout.column(heading="Motion")
    col.prop(s, "smoothing")
    col.prop(s, "root_motion")
    col.prop(s, "foot_lock")
    col.prop(s, "extremities")


def _draw_target(layout, context, s) -> None:
    """Which armature is animated; for the selected rig, its bone map and the check's report."""
    layout.prop(s, "target")
    if s.target != "SELECTED":
        return
    obj = context.active_object
    is_rig = obj is not None and obj.type == "ARMATURE"
    if is_rig:
        layout.label(text=f"{obj.name}: {len(obj.data.bones)} bones", icon="ARMATURE_DATA")
    else:
        layout.label(text="Select an armature", icon="ERROR")
    layout.prop(s, "bone_map")
    if s.bone_map == "FILE":
        layout.prop(s, "bone_map_file")
    layout.operator("liftrig.check_mapping", icon="BONE_DATA")
    if not is_rig:
        return
    asked = PANEL.mappings.get((obj.name, _bone_map(s)))
    info = None if asked is None else jobs.known(*asked)
    if asked is not None and info is None:
        layout.label(text="Checking the bone map...", icon="TIME")
    elif info is not None:
        _wrapped(layout.box(), info.get("report") or info.get("error", ""))


def _draw_run(layout) -> None:
    """The Lift button, or the running job's progress bar and its Cancel button."""
    job = active_job()
    if job is not None and job.running:
        box = layout.box()
        box.progress(factor=job.fraction, type="BAR", text=job.status_text()[9:])
        box.operator("liftrig.cancel_lift", icon="CANCEL")
    else:
        layout.operator("liftrig.lift_video", icon="PLAY")


def _draw_result(layout, s) -> None:
    """The last run: its error, or its armature, figures, report and export buttons."""
    if s.result_error:
        box = layout.box()
        box.label(text="Last run failed", icon="ERROR")
        _wrapped(box, s.result_error)
    elif s.result_armature is not None:
        box = layout.box()
        box.label(text=f"{s.result_armature.name}: {s.result_frames} frames at "
                       f"{s.result_fps:g} fps", icon="CHECKMARK")
        box.label(text=f"{s.result_seconds:.1f} s on {s.result_device}")
        if s.result_report:
            _wrapped(box, s.result_report)
        row = box.row(align=True)
        row.operator("liftrig.export_result", text="Export FBX").format = "FBX"
        row.operator("liftrig.export_result", text="Export BVH").format = "BVH"
    if s.result_log:
        layout.label(text=f"Worker log: {s.result_log}", icon="TEXT")


@bpy.app.handlers.persistent
def _cancel_on_load(*_args) -> None:
    """Another file is loading: the modal operator is gone, so stop its job (the new file is
    not touched either way)."""
    job = active_job()
    if job is not None:
        job.cancel()
        PANEL.job = None


CLASSES = (LiftRigSettings, LIFTRIG_OT_lift_video, LIFTRIG_OT_cancel_lift,
           LIFTRIG_OT_check_mapping, LIFTRIG_OT_export_result, VIEW3D_PT_liftrig_lift)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.liftrig = PointerProperty(type=LiftRigSettings)
    if _cancel_on_load not in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.append(_cancel_on_load)


def unregister() -> None:
    _cancel_on_load()
    while PANEL.redraw_timers:
        check = PANEL.redraw_timers.pop()
        if bpy.app.timers.is_registered(check):
            bpy.app.timers.unregister(check)
    timer, PANEL.modal_timer = PANEL.modal_timer, None
    wm = getattr(bpy.context, "window_manager", None)
    if timer is not None and wm is not None:          # the modal operator is freed uncancelled
        wm.event_timer_remove(timer)
        workspace = getattr(bpy.context, "workspace", None)
        if workspace is not None and bpy.context.window is not None:
            workspace.status_text_set(None)
    if _cancel_on_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_cancel_on_load)
    if hasattr(bpy.types.Scene, "liftrig"):
        del bpy.types.Scene.liftrig
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
