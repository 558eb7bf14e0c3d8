# SPDX-License-Identifier: GPL-3.0-or-later
"""The panel's settings (``scene.liftrig``): what the user asks for, how that becomes a
:class:`.jobs.LiftJob` (:func:`job_from_settings`), and the figures of the last run
(:func:`store_result`). The operators and the panel that show them are in :mod:`.panel`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from ..errors import LiftRigError
from ..options import LiftOptions, RetargetOptions
from . import jobs
from .state import PANEL

# The settings' defaults are the stages' own (options.py), as the command line's are.
_LIFT, _RETARGET = LiftOptions(), RetargetOptions()


def redraw_panels() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for window in (wm.windows if wm else ()):
        screen = window.screen
        for area in (screen.areas if screen is not None else ()):
            if area.type == "VIEW_3D":
                area.tag_redraw()


def abspath(path: str) -> str:
    """A setting's path made absolute (Blender's "//" paths resolved)."""
    return bpy.path.abspath(path) if path else ""


def probe_python(context) -> str | None:
    """The worker's Python for the panel's short checks; None when there is none yet."""
    try:
        return jobs.worker_python(context)
    except LiftRigError:
        return None




def redraw_when(done, give_up_s: float = 180.0) -> None:
    """Redraw the panel once ``done()`` is true (a background check has its result)."""
    limit = time.monotonic() + give_up_s

    def check():
        if done() or time.monotonic() > limit:
            redraw_panels()
            if check in PANEL.redraw_timers:
                PANEL.redraw_timers.remove(check)
            return None
        return 0.25

    PANEL.redraw_timers.append(check)
    bpy.app.timers.register(check, first_interval=0.25)


# Blender 4.5+ makes a path picked in the file browser "//"-relative (and shows "//" paths
# without a red alert) only for properties that declare they resolve it: these do (abspath).
_BLEND_RELATIVE = ({"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set())


def _video_changed(self, context):
    path = abspath(self.video)
    if path and Path(path).is_file():
        python = probe_python(context)
        if jobs.video_info(path, python, env=lambda: jobs.worker_env(context)) is None:
            redraw_when(lambda: jobs.video_info(path, python) is not None)


class LiftRigSettings(bpy.types.PropertyGroup):
    """What the panel asks for, and the figures of the last run."""

    video: StringProperty(name="Video", subtype="FILE_PATH", update=_video_changed,
                          options=_BLEND_RELATIVE,
                          description="The video of the person to animate")
    use_range: BoolProperty(name="Frame Range", default=False,
                            description="Only part of the video (frames counted from 1)")
    range_start: IntProperty(name="First", default=1, min=1,
                             description="First video frame (1 = the video's first)")
    range_end: IntProperty(name="Last", default=250, min=1,
                           description="Last video frame, included")
    person_mode: EnumProperty(name="Person", default="AUTO", items=(
        ("AUTO", "Auto", "Follow the most prominent person"),
        ("NUMBER", "Number", "The K-th person from the left at the start (0 = leftmost)")))
    person: IntProperty(name="Person Number", default=0, min=0,
                        description="Which person, counted from the left from 0")
    pose_model: EnumProperty(name="Pose Model", default=_LIFT.pose_model, items=(
        ("lite", "Lite", "MediaPipe's fastest pose model"),
        ("full", "Full", "MediaPipe's balanced pose model"),
        ("heavy", "Heavy", "MediaPipe's most accurate, slowest pose model")))
    jobs: IntProperty(name="Jobs", default=0, min=0, max=1024,
                      description="Processes that detect chunks of the video at once (0 = as "
                                  "in LiftRig's preferences, by default every core)")
    lifter: EnumProperty(name="Lifter", default="DEFAULT", items=(
        ("DEFAULT", "Default", "LiftRig's installed lifting model"),
        ("FILE", "File", "A checkpoint file: LiftRig .safetensors or an official MixSTE / "
                         "P-STMO checkpoint")))
    lifter_file: StringProperty(name="Checkpoint", subtype="FILE_PATH", options=_BLEND_RELATIVE,
                                description="Lifter weights to use")
    device: EnumProperty(name="Device", default=_LIFT.device.upper(), items=(
        ("AUTO", "Auto", "The GPU when there is one, else the CPU"),
        ("CPU", "CPU", "Lift on the CPU"),
        ("GPU", "GPU", "Lift on the GPU (CUDA, or Metal on a Mac)")))
    smoothing: FloatProperty(name="Smoothing", default=_RETARGET.smoothing, min=0.0, max=5.0,
                             soft_max=1.0,
                             description="0 = off, 1 = strong")
    root_motion: EnumProperty(name="Root Motion",
                              default="ON" if _RETARGET.root_motion else "IN_PLACE", items=(
        ("ON", "On", "The character travels as the person does"),
        ("IN_PLACE", "In Place", "The pelvis stays above the origin")))
    foot_lock: BoolProperty(name="Foot Locking", default=_RETARGET.foot_lock,
                            description="Plant the feet while they touch the ground")
    extremities: BoolProperty(name="Feet, Hands, Head", default=_RETARGET.extremities,
                              description="Turn the feet, hands and head from MediaPipe's "
                                          "heel, toe, knuckle, ear and nose landmarks")
    target: EnumProperty(name="Target", default="NEW", items=(
        ("NEW", "New LiftRig Skeleton", "Create LiftRig's skeleton, sized to the person"),
        ("SELECTED", "Selected Armature", "Key the active armature")))
    bone_map: EnumProperty(name="Bone Map", default="AUTO", items=(
        ("AUTO", "Detect", "Detect the rig's preset (Rigify, Mixamo, UE5, ...) from its "
                           "bone names"),
        ("FILE", "File", "A JSON bone map")))
    bone_map_file: StringProperty(name="Bone Map File", subtype="FILE_PATH",
                                  options=_BLEND_RELATIVE)

    # The last run's figures.
    result_armature: PointerProperty(name="Result", type=bpy.types.Object)
    result_frames: IntProperty(default=0)
    result_fps: FloatProperty(default=0.0)
    result_seconds: FloatProperty(default=0.0)
    result_device: StringProperty(default="")
    result_report: StringProperty(default="")
    result_log: StringProperty(default="")
    result_error: StringProperty(default="")


def device_name(choice: str) -> str:
    if choice == "GPU":
        return "mps" if sys.platform == "darwin" else "cuda"
    return choice.lower()


def job_from_settings(context) -> jobs.LiftJob:
    """A :class:`.jobs.LiftJob` for the panel's settings (not started); a clear
    :class:`LiftRigError` for missing or wrong choices."""
    s = context.scene.liftrig
    video = abspath(s.video)
    if not video:
        raise LiftRigError("choose a video first")
    if not Path(video).is_file():
        raise LiftRigError(f"video not found: {video}")
    weights = None
    if s.lifter == "FILE":
        weights = abspath(s.lifter_file)
        if not weights or not Path(weights).is_file():
            raise LiftRigError(f"lifter checkpoint not found: {weights or '(none chosen)'}")
    start, end = 0, None
    if s.use_range:
        if s.range_end < s.range_start:
            raise LiftRigError(f"the frame range {s.range_start}-{s.range_end} is empty")
        start, end = s.range_start - 1, s.range_end
    lift = LiftOptions(weights=weights, device=device_name(s.device),
                       pose_model=jobs.pose_model(context, s.pose_model),
                       person=s.person if s.person_mode == "NUMBER" else None,
                       start=start, end=end, jobs=jobs.two_d_jobs(context, s.jobs))
    retarget = dataclasses.asdict(RetargetOptions(
        smoothing=float(s.smoothing), foot_lock=bool(s.foot_lock),
        root_motion=s.root_motion == "ON", extremities=bool(s.extremities)))
    armature, bone_map = None, None
    if s.target == "SELECTED":
        armature = context.active_object
        if armature is None or armature.type != "ARMATURE":
            raise LiftRigError("select the armature to animate (or choose the target "
                               "\"New LiftRig Skeleton\")")
        if s.bone_map == "FILE":
            bone_map = abspath(s.bone_map_file)
            if not bone_map or not Path(bone_map).is_file():
                raise LiftRigError(f"bone map not found: {bone_map or '(none chosen)'}")
    return jobs.LiftJob(context.scene, video, armature=armature, bone_map=bone_map,
                        lift_options=lift, retarget_options=retarget,
                        worker_python=jobs.worker_python(context, video),
                        worker_env=jobs.worker_env(context),
                        frame_start=context.scene.frame_start)


def store_result(scene, job: jobs.LiftJob) -> None:
    """Put a finished (or failed) job's figures into ``scene.liftrig`` for the panel."""
    s = scene.liftrig
    if job.state == jobs.FINISHED and job.result is not None:
        r = job.result
        s.result_armature = bpy.data.objects.get(r.armature)
        s.result_frames, s.result_fps, s.result_seconds = r.frames, r.fps, r.seconds
        s.result_device, s.result_report, s.result_log = r.device, r.report, r.log_path
        s.result_error = ""
    elif job.state == jobs.FAILED:
        s.result_error, s.result_log = job.message, str(job.log_path)
