# SPDX-License-Identifier: GPL-3.0-or-later
"""The "Lift video to rig" panel with the `bpy` module: registration, the operator and its
background job end to end on real footage (worker = this test environment's Python), the
joints cache, cancel, a worker that dies. What needs a real window (drawing the panel, timer
events) is driven through the same functions the modal operator calls."""

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from blender_helpers import preset_armature, scene_state, stick_armature, tiny_lifter, world_heads
from conftest import POSE_MODEL, VIDEOS, shared_path
from liftrig.errors import LiftRigError

bpy = pytest.importorskip("bpy")

import liftrig.addon as addon  # noqa: E402  (after bpy is known to be there)
from liftrig.addon import jobs, panel  # noqa: E402
from liftrig.addon import settings as panel_settings  # noqa: E402
from liftrig.addon.keyframes import action_fcurves_for  # noqa: E402

FRAMES = 45          # the first 1.5 s of the outdoor clip: enough for every stage


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A private cache, the shared pose model, tiny lifter weights, the add-on registered."""
    shared_path("models", POSE_MODEL.name)
    cache = tmp_path_factory.mktemp("cache")
    weights = tiny_lifter(tmp_path_factory.mktemp("weights") / "tiny.safetensors")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIFTRIG_CACHE", str(cache))
        mp.setenv("LIFTRIG_POSE_MODEL", str(POSE_MODEL))
        mp.delenv("LIFTRIG_WORKER_PYTHON", raising=False)
        addon.register()
        try:
            yield {"cache": cache, "weights": weights}
        finally:
            addon.unregister()


@pytest.fixture
def scene(setup):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def settings(scene, weights, first=1, last=FRAMES):
    s = scene.liftrig
    s.video = str(VIDEOS["outdoor"])
    s.use_range, s.range_start, s.range_end = True, first, last
    s.lifter, s.lifter_file, s.device = "FILE", str(weights), "CPU"
    return s


def cache_files(setup):
    return sorted((setup["cache"] / "joints").glob("*.npz"))


def horizontal_travel(obj, scene, bone="Pelvis") -> float:
    """How far ``bone``'s head moves across the ground (world X/Y) over the clip, metres."""
    heads = []
    for frame in range(scene.frame_start, scene.frame_end + 1, 4):
        scene.frame_set(frame)
        heads.append(world_heads(obj, [bone])[0, :2])
    return float(np.ptp(np.array(heads), axis=0).max())


def test_register_and_unregister_twice_in_a_row(setup):
    addon.unregister()                       # the fixture registered it once already
    try:
        for _ in range(2):
            assert not hasattr(bpy.types.Scene, "liftrig")
            assert not hasattr(bpy.types, "VIEW3D_PT_liftrig_lift")
            addon.register()
            assert hasattr(bpy.types.Scene, "liftrig")
            for cls in panel.CLASSES:
                assert cls.is_registered, cls
            assert hasattr(bpy.ops.liftrig, "lift_video")
            assert bpy.types.VIEW3D_PT_liftrig_lift.bl_category == "LiftRig"
            assert bpy.types.VIEW3D_PT_liftrig_lift.bl_label == "Lift video to rig"
            addon.unregister()
            assert not any(cls.is_registered for cls in panel.CLASSES)
            assert not hasattr(bpy.types.Scene, "liftrig")
    finally:
        addon.register()


def test_video_probe_runs_in_the_worker_python_and_is_cached(setup, tmp_path):
    video = shared_path("videos", VIDEOS["outdoor"].name)
    info = jobs.video_info(video, sys.executable, wait=True)
    assert info == {"frames": 230, "fps": pytest.approx(30.0), "width": info["width"],
                    "height": info["height"]}
    assert info["width"] > info["height"] > 0
    started = time.perf_counter()
    assert jobs.video_info(video, sys.executable) is info       # cached: no second process
    assert time.perf_counter() - started < 0.05
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    assert "cannot open" in jobs.video_info(fake, sys.executable, wait=True)["error"]


def test_settings_become_the_job_options(scene, setup):
    s = settings(scene, setup["weights"], first=11, last=20)
    s.person_mode, s.person, s.pose_model = "NUMBER", 1, "heavy"
    s.smoothing, s.root_motion, s.foot_lock = 0.2, "IN_PLACE", False
    s.extremities, s.jobs = False, 3
    job = panel_settings.job_from_settings(bpy.context)
    o = job.lift_options
    assert (o.start, o.end, o.person, o.pose_model, o.device) == (10, 20, 1, "heavy", "cpu")
    assert o.jobs == 3
    assert o.weights == str(setup["weights"])
    from liftrig.options import RetargetOptions
    assert RetargetOptions(**job.retarget_options) == RetargetOptions(
        smoothing=pytest.approx(0.2), foot_lock=False, root_motion=False, extremities=False)
    assert job.armature_name is None and job.worker_python == sys.executable
    s.target = "SELECTED"
    with pytest.raises(LiftRigError, match="select the armature"):
        panel_settings.job_from_settings(bpy.context)
    s.target, s.lifter_file = "NEW", str(setup["weights"].with_name("missing.safetensors"))
    with pytest.raises(LiftRigError, match="checkpoint not found"):
        panel_settings.job_from_settings(bpy.context)


def test_operator_lifts_the_clip_onto_a_new_skeleton_then_reuses_the_cache(scene, setup,
                                                                        tmp_path):
    s = settings(scene, setup["weights"])
    assert bpy.ops.liftrig.lift_video() == {"FINISHED"}
    rig = s.result_armature
    assert rig is not None and rig.type == "ARMATURE" and rig.name in bpy.data.objects
    assert s.result_frames == FRAMES and s.result_device == "cpu" and not s.result_error
    assert (scene.frame_start, scene.frame_end) == (1, FRAMES)
    curves = action_fcurves_for(rig)
    assert len(curves) > 40 and {len(fc.keyframe_points) for fc in curves} == {FRAMES}
    assert Path(s.result_log).is_file() and Path(s.result_log).parent.name == "logs"
    [cached] = cache_files(setup)
    stamp = cached.stat().st_mtime_ns
    travelled = horizontal_travel(rig, scene)
    assert travelled > 0.05

    # Other retargeting options: the same joints file, no 2D or lifting stage; driven tick by
    # tick as the modal operator's timer does.
    s.smoothing, s.root_motion, s.foot_lock = 0.0, "IN_PLACE", False
    job = panel_settings.job_from_settings(bpy.context).start()
    texts = set()
    while panel.step(bpy.context, job) == jobs.RUNNING:
        texts.add(job.status_text())
        time.sleep(0.02)
    assert job.state == jobs.FINISHED, job.message
    assert job.result.cache_hit and job.result.device == "cached joints"
    assert not {"2D keypoints", "lifting"} & set(job.stages)
    assert "retargeting" in {jobs.stage_label(st) for st in job.stages}
    assert cache_files(setup) == [cached] and cached.stat().st_mtime_ns == stamp
    assert any("retargeting" in t or "writing keys" in t for t in texts)
    in_place = bpy.data.objects[job.result.armature]
    assert in_place is not rig
    assert horizontal_travel(in_place, scene) < 0.2 * travelled

    # The result's export buttons.
    panel_settings.store_result(scene, job)
    for fmt in ("FBX", "BVH"):
        out = tmp_path / f"walk.{fmt.lower()}"
        assert bpy.ops.liftrig.export_result(format=fmt, filepath=str(out)) == {"FINISHED"}
        assert out.stat().st_size > 1000
    assert "HIERARCHY" in (tmp_path / "walk.bvh").read_text()[:20]
    # A name typed with the other format's extension gets this format's, not both.
    assert bpy.ops.liftrig.export_result(format="BVH", filepath=str(tmp_path / "again.fbx")) \
        == {"FINISHED"}
    assert (tmp_path / "again.bvh").is_file() and not list(tmp_path.glob("again.fbx*"))
    assert [panel.export_path(p, "BVH") for p in ("a.fbx", "a.BVH", "a", "a.v2", "")] == \
        ["a.bvh", "a.bvh", "a.bvh", "a.v2.bvh", ""]


def test_invoked_in_background_mode_keys_a_generated_rigify_rig(scene, setup):
    from test_blender_animation import generate_rigify_rig

    rig = generate_rigify_rig()
    bpy.context.view_layer.objects.active = rig
    objects = sorted(o.name for o in bpy.data.objects)
    s = settings(scene, setup["weights"])
    s.target = "SELECTED"
    # In background mode Blender answers INVOKE_DEFAULT with execute(): the job runs to the end.
    assert bpy.ops.liftrig.lift_video("INVOKE_DEFAULT") == {"FINISHED"}
    assert s.result_armature == rig
    assert s.result_report.startswith("rig recognised as rigify")
    assert sorted(o.name for o in bpy.data.objects) == objects          # nothing new
    curves = action_fcurves_for(rig)
    bones = {fc.data_path.split('"')[1] for fc in curves}
    assert {"upper_arm_fk.L", "thigh_fk.R", "torso"} <= bones
    assert {len(fc.keyframe_points) for fc in curves} == {FRAMES}


def test_cancel_mid_run_stops_the_worker_at_once_and_changes_nothing(scene, setup):
    armature = preset_armature(scene, "mixamo")
    armature.animation_data_create()
    armature.animation_data.action = bpy.data.actions.new("earlier work")
    bpy.context.view_layer.objects.active = armature
    before = scene_state(bpy)
    files = cache_files(setup)
    s = settings(scene, setup["weights"], first=1, last=230)           # not cached yet
    s.target = "SELECTED"
    job = panel_settings.job_from_settings(bpy.context).start()
    panel.PANEL.job = job
    try:
        limit = time.monotonic() + 240
        while not ("2D keypoints" in job.stages and job.done > 0):
            assert panel.step(bpy.context, job) == jobs.RUNNING, job.message
            assert time.monotonic() < limit, "the 2D stage never started"
            time.sleep(0.05)
        started = time.monotonic()
        assert bpy.ops.liftrig.cancel_lift() == {"FINISHED"}           # the Cancel button
        assert job.join(1.0), "the worker was still running a second later"
        assert time.monotonic() - started < 1.0
    finally:
        panel.PANEL.job = None
    assert job.poll() == jobs.CANCELLED and job.result is None
    assert scene_state(bpy) == before
    assert cache_files(setup) == files                       # no joints file, not even half
    assert not bpy.ops.liftrig.cancel_lift.poll()


@pytest.mark.parametrize("body, message", [
    ("echo 'worker: out of memory' >&2\nexit 1", "exited with code 1.*out of memory"),
    ("kill -9 $$", "killed by signal 9"),
])
def test_a_worker_that_dies_is_an_error_report_and_changes_nothing(scene, setup, tmp_path,
                                                                   monkeypatch, body, message):
    worker = tmp_path / "python"
    worker.write_text(f"#!/bin/sh\n{body}\n")
    worker.chmod(0o755)
    monkeypatch.setenv("LIFTRIG_WORKER_PYTHON", str(worker))
    armature = preset_armature(scene, "mixamo")
    bpy.context.view_layer.objects.active = armature
    s = settings(scene, setup["weights"])
    s.target = "SELECTED"
    before = scene_state(bpy)
    with pytest.raises(RuntimeError, match=message):    # the operator's ERROR report
        bpy.ops.liftrig.lift_video()
    assert scene_state(bpy) == before
    assert "worker log: " in s.result_error and s.result_log in s.result_error
    log = Path(s.result_log)
    assert log.is_file() and log.parent == setup["cache"] / "logs"
    if "exit 1" in body:
        assert "out of memory" in log.read_text()
    assert panel.active_job() is None


def test_worker_python_order_configured_then_environment_then_this_python(setup, monkeypatch,
                                                                         tmp_path):
    monkeypatch.setenv("LIFTRIG_WORKER_PYTHON", "/opt/other/python")
    assert jobs.worker_python(bpy.context) == "/opt/other/python"
    monkeypatch.delenv("LIFTRIG_WORKER_PYTHON")
    assert jobs.worker_python(bpy.context) == sys.executable  # this venv has the modules
    assert os.path.basename(jobs.new_log_path(tmp_path / "a b.mp4")).endswith("-a b.log")


def test_joints_cache_is_keyed_by_content_and_the_lifting_options(setup, tmp_path,
                                                                 monkeypatch):
    import shutil

    from liftrig.options import LiftOptions
    from liftrig.pipeline.clips import joints_cache_path

    video = VIDEOS["outdoor"]
    base = LiftOptions(weights=str(setup["weights"]), end=45)
    path = joints_cache_path(video, base)
    assert path.parent == setup["cache"] / "joints"
    copy = shutil.copy(video, tmp_path / "renamed.mp4")
    assert joints_cache_path(copy, base) == path                  # the content, not the name
    others = [LiftOptions(weights=str(setup["weights"]), end=46),
              LiftOptions(weights=str(setup["weights"]), end=45, person=0),
              LiftOptions(weights=str(setup["weights"]), end=45, flip=False),
              LiftOptions(weights=str(setup["weights"]), end=45, precision="fp32"),
              LiftOptions(weights=str(setup["weights"]), end=45, device="cuda"),
              LiftOptions(weights=None, end=45)]
    keys = {joints_cache_path(video, o) for o in others}
    assert len(keys) == len(others) and path not in keys
    # The pose model: by the file used (here $LIFTRIG_POSE_MODEL for every name), else by name.
    heavy = LiftOptions(weights=str(setup["weights"]), end=45, pose_model="heavy")
    assert joints_cache_path(video, heavy) == path
    monkeypatch.delenv("LIFTRIG_POSE_MODEL")
    assert joints_cache_path(video, heavy) != joints_cache_path(video, base)
    with open(copy, "r+b") as f:                                  # one byte changed
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    assert joints_cache_path(copy, base) != path


def test_check_bone_map_names_the_preset_and_the_bones_left_undriven(scene, setup):
    armature = preset_armature(scene, "mixamo")
    bpy.context.view_layer.objects.active = armature
    bpy.ops.object.mode_set(mode="EDIT")
    sword = armature.data.edit_bones.new("sword")
    sword.head, sword.tail = (0.5, 0, 1), (0.5, 0, 2)
    bpy.ops.object.mode_set(mode="OBJECT")
    settings(scene, setup["weights"]).target = "SELECTED"
    before = scene_state(bpy)
    assert bpy.ops.liftrig.check_mapping(wait=True) == {"FINISHED"}
    report = jobs.known(*panel.PANEL.mappings[(armature.name, None)])["report"]
    assert report.startswith("rig recognised as mixamo") and "sword" in report
    assert scene_state(bpy) == before

    stick = stick_armature(scene)
    with pytest.raises(RuntimeError, match="matches no preset"):
        bpy.ops.liftrig.check_mapping(wait=True)


def test_cancel_while_the_worker_starts_up_is_immediate_too(scene, setup):
    before = scene_state(bpy)
    from liftrig.options import LiftOptions

    job = jobs.LiftJob(scene, VIDEOS["outdoor"], worker_python=sys.executable,
                       lift_options=LiftOptions(weights=str(setup["weights"]), start=100,
                                                end=130))
    job.start()
    time.sleep(0.3)                     # the worker is still importing its modules
    assert job.poll() == jobs.RUNNING
    started = time.monotonic()
    job.cancel()
    assert job.join(1.0) and time.monotonic() - started < 1.0
    assert job.poll() == jobs.CANCELLED and job.result is None
    assert scene_state(bpy) == before


def test_the_worker_runs_in_the_environment_the_job_is_given(scene, setup, tmp_path):
    """The preferences' environment reaches the worker (the extension's liftrig on PYTHONPATH,
    offline mode): here an offline environment with an empty cache and no local pose model,
    where this process's own environment (a local model) would have succeeded."""
    import os

    from liftrig.options import LiftOptions

    before = scene_state(bpy)
    env = {k: v for k, v in os.environ.items() if k != "LIFTRIG_POSE_MODEL"}
    env.update(LIFTRIG_OFFLINE="1", LIFTRIG_CACHE=str(tmp_path / "empty-cache"))
    job = jobs.LiftJob(scene, VIDEOS["outdoor"], worker_python=sys.executable,
                       lift_options=LiftOptions(weights=str(setup["weights"]), start=0, end=10),
                       worker_env=env)
    assert job.start().wait(120) == jobs.FAILED
    assert "pose model is not in" in job.message and "downloading is off" in job.message
    assert str(tmp_path / "empty-cache") in job.message
    assert scene_state(bpy) == before


def test_keys_go_into_the_jobs_scene_when_the_window_shows_another(scene, setup):
    """The user switched scenes while the worker ran: the skeleton and its keys land in the
    scene the job was started in, and the other scene is untouched."""
    from liftrig.options import LiftOptions

    other = bpy.data.scenes.new("Other")
    job = jobs.LiftJob(scene, VIDEOS["outdoor"], worker_python=sys.executable,
                       lift_options=LiftOptions(weights=str(setup["weights"]), start=0, end=20))
    job.start()
    assert job.join(300)
    with bpy.context.temp_override(scene=other, view_layer=other.view_layers[0]):
        assert bpy.context.scene == other
        assert job.wait(60) == jobs.FINISHED, job.message
    rig = bpy.data.objects[job.result.armature]
    assert rig.name in scene.objects and rig.name not in other.objects
    assert len(other.objects) == 0 and rig.animation_data.action is not None


def test_loading_another_file_stops_a_running_job(scene, setup):
    from liftrig.options import LiftOptions

    job = jobs.LiftJob(scene, VIDEOS["outdoor"], worker_python=sys.executable,
                       lift_options=LiftOptions(weights=str(setup["weights"]), start=60, end=90))
    panel.PANEL.job = job.start()
    bpy.ops.wm.read_factory_settings(use_empty=True)        # the modal operator would be gone
    assert panel.active_job() is None and job.state == jobs.CANCELLED
    assert job.join(1.0)
    assert bpy.ops.liftrig.lift_video.poll()


# --- what needs a window: driven with stand-ins for the window's parts only -------------------

class Layout:
    """Records what the panel draws; every call and attribute is checked against UILayout's
    real RNA (parameter names, icon names), properties against the settings, operators
    against the registered ones. Stands in for a window's layout, which the bpy module
    cannot give."""

    def __init__(self, log):
        object.__setattr__(self, "log", log)

    def __setattr__(self, name, value):
        assert name in bpy.types.UILayout.bl_rna.properties, name
        object.__setattr__(self, name, value)

    def _check(self, function, kwargs):
        params = bpy.types.UILayout.bl_rna.functions[function].parameters
        for key, value in kwargs.items():
            assert key in params, (function, key)
            if key == "icon":
                assert value in params["icon"].enum_items.keys(), value

    def _child(self, function, **kwargs):
        self._check(function, kwargs)
        return Layout(self.log)

    def row(self, **kwargs):
        return self._child("row", **kwargs)

    def column(self, **kwargs):
        return self._child("column", **kwargs)

    def box(self, **kwargs):
        return self._child("box", **kwargs)

    def prop(self, data, prop, **kwargs):
        self._check("prop", kwargs)
        assert prop in data.bl_rna.properties, prop
        self.log.append(("prop", prop))

    def label(self, **kwargs):
        self._check("label", kwargs)
        self.log.append(("label", kwargs.get("text", "")))

    def progress(self, **kwargs):
        self._check("progress", kwargs)
        self.log.append(("progress", kwargs.get("factor"), kwargs.get("text")))

    def operator(self, idname, **kwargs):
        self._check("operator", kwargs)
        group, name = idname.split(".")
        rna = getattr(getattr(bpy.ops, group), name).get_rna_type()
        self.log.append(("operator", idname, kwargs.get("text")))
        log = self.log

        class Properties:
            def __setattr__(self, key, value):
                assert key in rna.properties, key
                log.append(("set", idname, key, value))

        return Properties()


def draw_panel():
    log = []
    panel.VIEW3D_PT_liftrig_lift.draw(type("P", (), {"layout": Layout(log)})(), bpy.context)
    return log


def test_the_panel_draws_every_state_with_real_properties_and_operators(scene, setup):
    s = scene.liftrig
    log = draw_panel()
    assert ("prop", "video") in log and ("operator", "liftrig.lift_video", None) in log
    assert not [e for e in log if e[0] == "progress"]

    settings(scene, setup["weights"])
    jobs.video_info(s.video, sys.executable, wait=True)
    armature = preset_armature(scene, "mixamo")
    bpy.context.view_layer.objects.active = armature
    s.person_mode, s.target = "NUMBER", "SELECTED"
    assert bpy.ops.liftrig.check_mapping(wait=True) == {"FINISHED"}
    labels = [e[1] for e in draw_panel() if e[0] == "label"]
    info = jobs.video_info(s.video, sys.executable)
    assert f"230 frames, 30 fps, {info['width']} x {info['height']}" in labels
    assert any(t.startswith("rig recognised as mixamo") for t in labels)
    assert f"{armature.name}: {len(armature.data.bones)} bones" in labels
    assert ("prop", "person") in draw_panel() and ("prop", "lifter_file") in draw_panel()

    job = jobs.LiftJob(scene, s.video, worker_python=sys.executable)
    job.state, job.stage, job.done, job.total = jobs.RUNNING, "lifting", 10, 45
    panel.PANEL.job = job
    try:
        log = draw_panel()
    finally:
        panel.PANEL.job = None
    [bar] = [e for e in log if e[0] == "progress"]
    assert bar[1] == pytest.approx(10 / 45) and bar[2].startswith("lifting 10/45 frames")
    assert ("operator", "liftrig.cancel_lift", None) in log
    assert ("operator", "liftrig.lift_video", None) not in log

    s.result_armature, s.result_frames, s.result_fps = armature, 45, 30.0
    s.result_seconds, s.result_device, s.result_report = 12.5, "cpu", "a; b"
    log = draw_panel()
    assert ("set", "liftrig.export_result", "format", "FBX") in log
    assert ("set", "liftrig.export_result", "format", "BVH") in log
    assert ("label", "12.5 s on cpu") in log and ("label", "b") in log
    s.result_error = "the worker died"
    assert ("label", "Last run failed") in draw_panel()


def test_the_modal_operator_passes_events_through_steps_on_timers_and_stops_on_esc(scene,
                                                                                  setup):
    """The modal operator's own code with a real window manager, timer and workspace; only
    the operator instance and the events are stand-ins (no event loop in the bpy module)."""
    from types import SimpleNamespace

    wm = bpy.context.window_manager
    reports = []
    op = SimpleNamespace(report=lambda kind, text: reports.append((kind, text)))
    op._cleanup = lambda context: panel.LIFTRIG_OT_lift_video._cleanup(op, context)
    op.cancel = lambda context: panel.LIFTRIG_OT_lift_video.cancel(op, context)
    modal = panel.LIFTRIG_OT_lift_video.modal
    event = lambda kind: SimpleNamespace(type=kind, value="PRESS")   # noqa: E731

    settings(scene, setup["weights"])
    before = scene_state(bpy)
    for ending in ("TIMER", "ESC"):
        op._timer = panel.PANEL.modal_timer = wm.event_timer_add(0.1, window=bpy.context.window)
        panel.PANEL.job = job = panel_settings.job_from_settings(bpy.context).start()
        assert modal(op, bpy.context, event("MOUSEMOVE")) == {"PASS_THROUGH"}
        if ending == "ESC":
            assert modal(op, bpy.context, event("ESC")) == {"CANCELLED"}
            assert job.join(1.0) and job.state == jobs.CANCELLED
            assert scene_state(bpy) == before and reports[-1][0] == {"WARNING"}
        else:
            limit = time.monotonic() + 300
            while (result := modal(op, bpy.context, event("TIMER"))) == {"PASS_THROUGH"}:
                assert time.monotonic() < limit
                time.sleep(0.05)
            assert result == {"FINISHED"} and reports[-1][0] == {"INFO"}
            assert scene.liftrig.result_frames == FRAMES
            before = scene_state(bpy)
        assert op._timer is None and panel.active_job() is None
        assert panel.PANEL.modal_timer is None


def test_the_modal_operator_cleans_up_when_blender_ends_it_or_the_addon_goes(scene, setup):
    """Without a window these paths never run: Blender calls cancel() (not modal()) when the
    operator's window closes, another file loads or Blender quits, and calls nothing when the
    add-on is disabled mid-run (its class unregistered). The job must stop, the timer go."""
    from types import SimpleNamespace

    wm = bpy.context.window_manager
    assert "UNDO" in panel.LIFTRIG_OT_lift_video.bl_options        # one undo step per lift
    settings(scene, setup["weights"])
    before = scene_state(bpy)
    op = SimpleNamespace(report=lambda kind, text: None)
    op._cleanup = lambda context: panel.LIFTRIG_OT_lift_video._cleanup(op, context)
    op._timer = panel.PANEL.modal_timer = wm.event_timer_add(0.1, window=bpy.context.window)
    panel.PANEL.job = job = panel_settings.job_from_settings(bpy.context).start()
    panel.LIFTRIG_OT_lift_video.cancel(op, bpy.context)
    assert job.join(1.0) and job.state == jobs.CANCELLED
    assert op._timer is None and panel.PANEL.modal_timer is None and panel.active_job() is None
    assert scene_state(bpy) == before and bpy.ops.liftrig.lift_video.poll()

    panel.PANEL.modal_timer = wm.event_timer_add(0.1, window=bpy.context.window)
    panel.PANEL.job = job = panel_settings.job_from_settings(bpy.context).start()
    panel_settings.redraw_when(lambda: False)           # a check's redraw still waiting
    waiting = panel.PANEL.redraw_timers[-1]
    assert bpy.app.timers.is_registered(waiting)
    addon.unregister()                          # the operator is freed without cancel()
    try:
        assert panel.PANEL.modal_timer is None and panel.active_job() is None
        assert not panel.PANEL.redraw_timers and not bpy.app.timers.is_registered(waiting)
        assert job.join(1.0) and job.state == jobs.CANCELLED
    finally:
        addon.register()


def test_esc_while_the_animation_plays_stops_playback_not_the_run(setup):
    """The modal handler sees Esc before the screen's keymap: while the animation plays, Esc
    is passed on (it stops playback) and the run goes on."""
    from types import SimpleNamespace

    cancelled = []
    job = SimpleNamespace(running=True, cancel=lambda: cancelled.append(True))
    op = SimpleNamespace(_timer=None)
    context = SimpleNamespace(screen=SimpleNamespace(is_animation_playing=True))
    assert "is_animation_playing" in bpy.types.Screen.bl_rna.properties
    panel.PANEL.job = job
    try:
        esc = SimpleNamespace(type="ESC", value="PRESS")
        assert panel.LIFTRIG_OT_lift_video.modal(op, context, esc) == {"PASS_THROUGH"}
        assert not cancelled and panel.active_job() is job
    finally:
        panel.PANEL.job = None


def test_scene_file_paths_may_be_blend_relative(scene, setup, tmp_path):
    """Blender 4.5+ keeps a picked path "//"-relative only where the property says it resolves
    "//" (else the file browser stores it absolute and an old relative one shows red)."""
    props = bpy.types.Scene.bl_rna.properties["liftrig"].fixed_type.properties
    for name in ("video", "lifter_file", "bone_map_file"):
        assert props[name].is_path_supports_blend_relative is (bpy.app.version >= (4, 5, 0))
    blend = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    scene = bpy.context.scene
    scene.liftrig.video = "//walk.mp4"
    assert panel_settings.abspath(scene.liftrig.video) == str(tmp_path / "walk.mp4")


def test_repeat_last_does_not_run_a_blocking_lift(scene, setup):
    """Shift+R (Repeat Last) calls execute() in the window: refused, nothing starts."""
    from types import SimpleNamespace

    assert "is_repeat_last" in bpy.types.OperatorOptions.bl_rna.properties
    reports = []
    op = SimpleNamespace(options=SimpleNamespace(is_repeat_last=True, is_repeat=False),
                         report=lambda kind, text: reports.append(kind))
    settings(scene, setup["weights"])
    assert panel.LIFTRIG_OT_lift_video.execute(op, bpy.context) == {"CANCELLED"}
    assert reports == [{"WARNING"}] and panel.active_job() is None


def test_a_finished_run_is_stored_in_its_own_scene(scene, setup):
    """The window may show another scene by the time the job ends."""
    other = bpy.data.scenes.new("other")
    job = jobs.LiftJob(other, VIDEOS["outdoor"], worker_python=sys.executable)
    job.state, job.message = jobs.FAILED, "the worker died"
    reports = []
    op = type("Op", (), {"report": lambda self, kind, text: reports.append(kind)})()
    assert panel.finish(op, bpy.context, job) == {"CANCELLED"} and reports == [{"ERROR"}]
    assert other.liftrig.result_error == "the worker died"
    assert bpy.context.scene != other and not bpy.context.scene.liftrig.result_error
