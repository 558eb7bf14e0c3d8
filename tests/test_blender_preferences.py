# SPDX-License-Identifier: GPL-3.0-or-later
"""LiftRig's add-on preferences with the bpy module, each run in its own Blender (a subprocess
with private user folders, so nothing touches the real user preferences):

* enabled as an add-on (``addon_utils.enable``): register/unregister twice, the values set,
  read back, saved to userpref.blend and found again by a fresh Blender; "Install dependencies"
  refused while the real "Allow Online Access" preference is off; with it on, the operator
  builds the private environment for real (the plan narrowed to local wheels, no network) and
  the worker's Python becomes that venv's; "Check" with "Use this Python";
* installed as an extension (``bl_ext.user_default.liftrig``): the preferences' bl_idname is
  the extension's package, its user folder is Blender's, and "Check" with "Use this Python"
  runs the installed extension's doctor (``liftrig.pipeline.worker --check doctor``) (through the PYTHONPATH link).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("bpy")

from conftest import shared_path                                            # noqa: E402
from test_dependencies import make_wheel, wheel_of_installed                # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

COMMON = r"""
import json, os, sys, bpy, addon_utils
NAME = sys.argv[1]

def classes_registered():
    return (bpy.types.AddonPreferences.bl_rna_get_subclass_py("LIFTRIG_AP_preferences")
            is not None, hasattr(bpy.types, "LIFTRIG_OT_install_dependencies"))

def prefs():
    return bpy.context.preferences.addons[NAME].preferences
"""

ENABLE_SET_SAVE = COMMON + r"""
wheel, model = sys.argv[2], sys.argv[3]
assert classes_registered() == (False, False)
for _ in range(2):                                   # enable and disable, twice in a row
    assert addon_utils.enable(NAME, default_set=True, handle_error=None) is not None
    assert classes_registered() == (True, True), classes_registered()
    assert NAME in bpy.context.preferences.addons
    addon_utils.disable(NAME, default_set=True, handle_error=None)
    assert classes_registered() == (False, False), classes_registered()
    assert NAME not in bpy.context.preferences.addons
addon_utils.enable(NAME, default_set=True, handle_error=None)
from liftrig.addon import preferences as P
p = prefs()
assert type(p).bl_idname == NAME == P.PACKAGE
assert (p.python_mode, p.torch_build, p.pose_model_source) == ("PRIVATE", "CPU", "CACHE")
assert P.worker_python() is None                     # nothing installed yet
assert P.pose_model_choice(name="heavy") == "heavy"

# Round trip: set, read back.
p.python_mode = "CUSTOM"
p.custom_python = sys.executable
p.torch_build = "CU128"
p.pose_model_source = "LOCAL"
p.pose_model_path = model
p = prefs()
assert (p.python_mode, p.custom_python, p.torch_build) == ("CUSTOM", sys.executable, "CU128")
assert (p.pose_model_source, p.pose_model_path) == ("LOCAL", model)
assert P.worker_python() == sys.executable
assert P.pose_model_choice(name="lite") == model

# "Check" with "Use this Python" (the test environment: everything there).
assert bpy.ops.liftrig.check_dependencies() == {"FINISHED"}
report = P.PREFERENCES.check.report
assert report["ok"] is True and report["python"]["executable"] == sys.executable, report
assert report["versions"]["torch"] and report["versions"]["mediapipe"]
assert model in {c["name"]: c for c in report["checks"]}["pose model"]["detail"]
shim = P.shim_dir()
assert os.path.samefile(shim / "liftrig", P.dependencies.package_dir()), shim

# Install refused while the real "Allow Online Access" preference is off.
bpy.context.preferences.system.use_online_access = False
assert bpy.app.online_access is False
try:
    bpy.ops.liftrig.install_dependencies()
    raise AssertionError("the install ran offline")
except RuntimeError as exc:
    assert "Allow Online Access" in str(exc), exc
assert not P.venv_dir().exists() and not P.venv_dir().with_name("venv.new").exists()
try:
    bpy.ops.liftrig.download_pose_model(model="lite")
    raise AssertionError("the download ran offline")
except RuntimeError as exc:
    assert "Allow Online Access" in str(exc), exc
assert not os.path.exists(os.path.join(os.environ["LIFTRIG_CACHE"], "models"))

# With it on, the operator builds the private environment for real; the plan is narrowed to
# local wheels and --no-index (torch is too big, and the tests stay off the network).
bpy.context.preferences.system.use_online_access = True
assert bpy.app.online_access is True
plan = P.dependencies.install_plan
seen = {}
def local_plan(base, venv, shim, source, *, torch_build):
    seen.update(base=base, torch_build=torch_build, venv=venv)
    return plan(base, venv, shim, source, torch_build=torch_build, torch=None,
                requirements=[wheel],
                pip_extra=("--no-index", "--find-links", os.path.dirname(wheel)))
P.dependencies.install_plan = local_plan
p.python_mode = "PRIVATE"
assert bpy.ops.liftrig.install_dependencies() == {"FINISHED"}
assert seen == {"base": sys.executable, "torch_build": "CU128", "venv": P.venv_dir()}, seen
venv_python = P.worker_python()
assert venv_python == str(P.dependencies.venv_python(P.venv_dir())), venv_python
assert os.path.isfile(venv_python) and venv_python.startswith(os.environ["BLENDER_USER_CONFIG"])
# "Check" with that venv: LiftRig imports (through the .pth link), torch is missing.
try:
    bpy.ops.liftrig.check_dependencies()
    raise AssertionError("the check passed without torch")
except RuntimeError as exc:
    assert "torch: not installed" in str(exc), exc
assert P.PREFERENCES.check.report["python"]["executable"] == venv_python

p.python_mode = "CUSTOM"
bpy.context.preferences.system.use_online_access = False
assert bpy.ops.wm.save_userpref() == {"FINISHED"}
print("SAVED", json.dumps(report["versions"]))
"""

READ_BACK = COMMON + r"""
model = sys.argv[2]
assert bpy.ops.wm.read_userpref() == {"FINISHED"}
assert addon_utils.check(NAME) == (True, False)     # listed as enabled, not yet loaded
addon_utils.enable(NAME, handle_error=None)
p = prefs()
assert (p.python_mode, p.custom_python, p.torch_build) == ("CUSTOM", sys.executable, "CU128")
assert (p.pose_model_source, p.pose_model_path) == ("LOCAL", model)
print("READ BACK")
"""


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLENDER_USER_")}
    env.update(BLENDER_USER_RESOURCES=str(tmp_path / "user"),
               BLENDER_USER_CONFIG=str(tmp_path / "user" / "config"),
               LIFTRIG_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    env.pop("LIFTRIG_WORKER_PYTHON", None)
    return env


def _blender(script, *args, env, timeout=600):
    run = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                         text=True, env=env, timeout=timeout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return run.stdout


def test_preferences_register_round_trip_install_and_check(tmp_path):
    model = shared_path("models", "pose_landmarker_full.task")
    wheel = make_wheel(tmp_path)
    wheel_of_installed("pip", tmp_path)         # the "Updating pip" step, offline
    env = _env(tmp_path)
    out = _blender(ENABLE_SET_SAVE, "liftrig", wheel, model, env=env)
    assert "SAVED" in out
    assert (tmp_path / "user" / "config" / "userpref.blend").is_file()
    assert "READ BACK" in _blender(READ_BACK, "liftrig", model, env=env)


EXTENSION = COMMON + r"""
package, python = sys.argv[2], sys.argv[3]
result = bpy.ops.extensions.package_install_files(
    filepath=package, repo="user_default", enable_on_install=True)
assert result == {"FINISHED"}, result
module = sys.modules[NAME]
P = sys.modules[NAME + ".addon.preferences"]
p = prefs()
assert type(p).bl_idname == NAME == P.PACKAGE
venv = P.venv_dir()
assert str(venv) == bpy.utils.extension_path_user(NAME, path="venv"), venv
assert str(venv).startswith(os.environ["BLENDER_USER_RESOURCES"]), venv
p.python_mode = "CUSTOM"
p.custom_python = python
assert P.worker_python() == python
bpy.context.preferences.system.use_online_access = False
try:
    bpy.ops.liftrig.install_dependencies()
    raise AssertionError("the install ran offline")
except RuntimeError as exc:
    assert "Allow Online Access" in str(exc)
bpy.context.preferences.system.use_online_access = True
assert bpy.ops.liftrig.check_dependencies() == {"FINISHED"}
report = P.PREFERENCES.check.report
weights = {c["name"]: c for c in report["checks"]}["default weights"]
print("WEIGHTS", weights["detail"])
print("EXTENSION", os.path.dirname(module.__file__))
addon_utils.disable(NAME, default_set=True)
assert classes_registered() == (False, False)
"""


def test_preferences_of_the_installed_extension(tmp_path):
    from test_blender_extension import build_extension

    package = tmp_path / "liftrig-0.1.0.zip"
    build_extension(package)
    env = _env(tmp_path)
    out = _blender(EXTENSION, "bl_ext.user_default.liftrig", package, sys.executable, env=env)
    lines = dict(line.split(" ", 1) for line in out.splitlines()
                 if line.startswith(("WEIGHTS ", "EXTENSION ")))
    extension = lines["EXTENSION"]
    assert extension.startswith(str(tmp_path / "user")), extension
    # "Use this Python" ran the installed extension's doctor, not this checkout's; the
    # extension carries no CC BY-NC weights, so its doctor looks for them in vain.
    assert lines["WEIGHTS"] == "missing: " + os.path.join(extension, "lifter", "weights",
                                                          "default.safetensors"), lines


class _Recorder:
    """A stand-in for ``UILayout`` that checks every call against the real one's RNA (method,
    keyword names, icon names, attributes) and records the texts shown."""

    def __init__(self, shown):
        object.__setattr__(self, "_shown", shown)

    def __getattr__(self, name):
        import bpy

        function = bpy.types.UILayout.bl_rna.functions.get(name)
        assert function is not None, f"UILayout has no {name}()"
        params = function.parameters

        def call(*args, **kwargs):
            assert set(kwargs) <= set(params.keys()), (name, kwargs)
            if "icon" in kwargs:
                assert kwargs["icon"] in params["icon"].enum_items.keys(), kwargs["icon"]
            if name == "prop":
                assert args[1] in type(args[0]).__annotations__, args[1]
            if "text" in kwargs:
                self._shown.append(kwargs["text"])
            if name == "operator":
                assert hasattr(bpy.types, args[0].replace("liftrig.", "LIFTRIG_OT_")), args[0]
                return _OperatorProperties()
            return _Recorder(self._shown)

        return call

    def __setattr__(self, name, value):
        import bpy

        assert name in bpy.types.UILayout.bl_rna.properties.keys(), name


class _OperatorProperties:
    model = None


def test_preferences_draw_against_the_real_layout_api(monkeypatch, tmp_path):
    """draw() in each state it can be in, with every layout call checked against Blender's RNA
    (a wrong keyword or icon name would only show in a real window otherwise)."""
    import bpy

    from liftrig.addon import dependencies
    from liftrig.addon import preferences as P

    for cls in P.CLASSES:
        bpy.utils.register_class(cls)
    try:
        monkeypatch.setenv("LIFTRIG_CACHE", str(tmp_path / "cache"))
        monkeypatch.setattr(P, "user_dir", lambda sub, create=False: tmp_path / "user" / sub)
        fields = {name: None for name in P.LIFTRIG_AP_preferences.__annotations__}

        class Prefs:
            __annotations__ = P.LIFTRIG_AP_preferences.__annotations__
            draw = P.LIFTRIG_AP_preferences.draw
            _draw_private = P.LIFTRIG_AP_preferences._draw_private
            _draw_check = P.LIFTRIG_AP_preferences._draw_check
            _draw_models = P.LIFTRIG_AP_preferences._draw_models
            _draw_default_weights = P.LIFTRIG_AP_preferences._draw_default_weights

        def draw(**values):
            prefs = Prefs()
            prefs.__dict__.update(fields)
            prefs.__dict__.update({"python_mode": "PRIVATE", "custom_python": "",
                                   "torch_build": "CPU", "pose_model_source": "CACHE",
                                   "pose_model_path": "", **values})
            shown = []
            prefs.layout = _Recorder(shown)
            prefs.draw(bpy.context)
            return shown

        bpy.context.preferences.system.use_online_access = False
        shown = draw()
        assert "Install Dependencies" in shown and "Not installed yet" in shown
        assert "Needs Preferences > System > Network > Allow Online Access" in shown
        assert "Get Lite" in shown and "Check" in shown

        job = dependencies.InstallJob(tmp_path / "venv.new", [])
        job.state.fraction, job.state.text = 0.4, "Installing PyTorch (CPU): Resolving torch"
        monkeypatch.setattr(P.PREFERENCES, "install", job)
        assert "Installing PyTorch (CPU): Resolving torch" in draw()
        monkeypatch.setattr(P.PREFERENCES, "install", None)

        monkeypatch.setattr(P.PREFERENCES.check, "report", dependencies.parse_doctor_output(
            "/x/python", 1, "", "No module named liftrig"))
        shown = draw(python_mode="CUSTOM", custom_python=str(tmp_path / "missing"))
        assert "Choose a Python interpreter file (e.g. .venv/bin/python)" in shown
        assert any("cannot import liftrig" in text for text in shown), shown

        monkeypatch.setattr(P.PREFERENCES.check, "report", {"ok": True, "checks": [
            {"name": "torch", "ok": True, "detail": "2.13.0, device cpu", "needed": True}]})
        monkeypatch.setattr(P.PREFERENCES.download, "running", True)
        monkeypatch.setattr(P.PREFERENCES.download, "text", "Downloading the full pose model")
        shown = draw(pose_model_source="CACHE")
        assert "torch: 2.13.0, device cpu" in shown
        assert "Downloading the full pose model" in shown
        monkeypatch.setattr(P.PREFERENCES.download, "running", False)
        assert "Get Full" not in draw(pose_model_source="LOCAL")

        from liftrig.lifter import default_weights

        shown = draw()
        assert any("CC BY-NC 4.0: non-commercial" in text for text in shown), shown
        assert any(text.startswith("Installed: ") for text in shown)
        monkeypatch.setattr(default_weights, "PACKAGED", tmp_path / "not-in-the-zip")
        shown = draw()
        assert "Install from File..." in shown
        assert any("Not included in the extension" in text for text in shown)
    finally:
        for cls in reversed(P.CLASSES):
            bpy.utils.unregister_class(cls)


def test_unregister_stops_a_running_install(monkeypatch, tmp_path):
    import time

    import bpy

    from liftrig.addon import dependencies
    from liftrig.addon import preferences as P

    staging = tmp_path / "venv.new"
    job = dependencies.InstallJob(staging, [
        dependencies.Step("Creating", 0.5, [sys.executable, "-c",
                                            f"import os; os.mkdir({str(staging)!r})"]),
        dependencies.Step("Waiting", 0.5, [sys.executable, "-c",
                                           "print('Collecting x', flush=True)\n"
                                           "import time; time.sleep(60)"])])
    for cls in P.CLASSES:
        bpy.utils.register_class(cls)
    monkeypatch.setattr(P.PREFERENCES, "install", job.start())
    deadline = time.monotonic() + 60
    while "Collecting x" not in job.state.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert staging.is_dir() and not job.state.done
    for cls in reversed(P.CLASSES):
        bpy.utils.unregister_class(cls)
    assert job.state.done and job.state.cancelled and not staging.exists()


def test_pose_model_download_operator(monkeypatch, tmp_path):
    """The "Get" buttons' operator: a model served from this machine (loopback HTTP, which
    download_file allows for tests) lands in the user cache when its SHA-256 matches, and
    nothing lands when it does not; offline it is refused."""
    import hashlib
    import http.server
    import threading

    import bpy

    from liftrig.addon import preferences as P
    from liftrig.detect import pose_models

    served = tmp_path / "served"
    served.mkdir()
    payload = b"not really a model, but bytes with a known hash" * 1000
    (served / "pose_landmarker_lite.task").write_bytes(payload)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(served), **k)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/pose_landmarker_lite.task"
    monkeypatch.setenv("LIFTRIG_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LIFTRIG_POSE_MODEL", raising=False)
    monkeypatch.delenv("LIFTRIG_OFFLINE", raising=False)
    cached = tmp_path / "cache" / "models" / "pose_landmarker_lite.task"
    system = bpy.context.preferences.system
    online = system.use_online_access
    for cls in P.CLASSES:
        bpy.utils.register_class(cls)
    try:
        system.use_online_access = True
        monkeypatch.setitem(pose_models.POSE_MODELS, "lite", pose_models.PoseModelSpec(
            "lite", url, "0" * 64))
        with pytest.raises(RuntimeError, match="SHA-256"):
            bpy.ops.liftrig.download_pose_model(model="lite")
        assert not cached.exists() and not list(cached.parent.iterdir())
        monkeypatch.setitem(pose_models.POSE_MODELS, "lite", pose_models.PoseModelSpec(
            "lite", url, hashlib.sha256(payload).hexdigest()))
        assert bpy.ops.liftrig.download_pose_model(model="lite") == {"FINISHED"}
        assert cached.read_bytes() == payload and P.PREFERENCES.download.fraction == 1.0
        cached.unlink()
        system.use_online_access = False
        with pytest.raises(RuntimeError, match="Allow Online Access"):
            bpy.ops.liftrig.download_pose_model(model="lite")
        assert not cached.exists()
    finally:
        system.use_online_access = online
        server.shutdown()
        for cls in reversed(P.CLASSES):
            bpy.utils.unregister_class(cls)


def test_default_weights_install_operator(monkeypatch, tmp_path):
    """The extension ships without the CC BY-NC weights: the operator installs the released
    file into the user cache only when its SHA-256 is the released one."""
    import bpy

    from liftrig.addon import preferences as P
    from liftrig.lifter import default_weights

    monkeypatch.setenv("LIFTRIG_CACHE", str(tmp_path / "cache"))
    installed = default_weights.installed_path()
    wrong = tmp_path / "other.safetensors"
    wrong.write_bytes(b"someone else's weights")
    for cls in P.CLASSES:
        bpy.utils.register_class(cls)
    try:
        with pytest.raises(RuntimeError, match="not LiftRig's released default weights"):
            bpy.ops.liftrig.install_default_weights(filepath=str(wrong))
        assert not installed.exists()
        assert bpy.ops.liftrig.install_default_weights(
            filepath=str(default_weights.PACKAGED)) == {"FINISHED"}
        assert installed.read_bytes() == default_weights.PACKAGED.read_bytes()
        assert default_weights.find_default_weights(tmp_path / "not-in-the-zip") == installed
    finally:
        for cls in reversed(P.CLASSES):
            bpy.utils.unregister_class(cls)


def test_modal_paths_without_a_window(monkeypatch, tmp_path):
    """The window-only paths (modal(), cancel()) run on plain stand-ins for the operator, the
    context and the events: the timer polls the job, Esc cancels it, the outcome is reported."""
    import time
    from types import SimpleNamespace

    import bpy

    from liftrig.addon import dependencies
    from liftrig.addon import preferences as P

    removed, reports = [], []
    context = SimpleNamespace(window_manager=SimpleNamespace(
        event_timer_remove=removed.append, windows=[]))
    monkeypatch.setattr(bpy, "context", SimpleNamespace(window_manager=None))
    monkeypatch.setattr(P, "user_dir", lambda sub, create=False: tmp_path / "user" / sub)

    def operator(cls):
        op = SimpleNamespace(_timer="timer", report=lambda kind, text: reports.append(
            (next(iter(kind)), text)))
        for name in ("_finish", "_report"):
            if hasattr(cls, name):
                setattr(op, name, getattr(cls, name).__get__(op))
        return op

    def drive(cls, op, job, esc_after=None):
        tick = 0
        while True:
            tick += 1
            kind = "ESC" if esc_after is not None and tick == esc_after else "TIMER"
            result = cls.modal(op, context, SimpleNamespace(type=kind))
            if result != {"PASS_THROUGH"}:
                return result
            assert tick < 2000
            time.sleep(0.02)

    def sleeper(staging, seconds):
        return dependencies.InstallJob(staging, [dependencies.Step(
            "Waiting", 1.0, [sys.executable, "-c", f"import time; time.sleep({seconds})"])])

    install = P.LIFTRIG_OT_install_dependencies
    monkeypatch.setattr(P.PREFERENCES, "install", sleeper(tmp_path / "a.new", 0.2).start())
    assert drive(install, operator(install), P.PREFERENCES.install) == {"FINISHED"}
    assert reports[-1][0] == "INFO" and "installed in" in reports[-1][1] and removed == ["timer"]

    monkeypatch.setattr(P.PREFERENCES, "install", sleeper(tmp_path / "b.new", 60).start())
    started = time.monotonic()
    assert drive(install, operator(install), P.PREFERENCES.install, esc_after=5) == {"CANCELLED"}
    assert time.monotonic() - started < 3 and P.PREFERENCES.install.state.cancelled
    assert reports[-1] == ("WARNING", "Install cancelled; the previous environment is unchanged")

    check = P.LIFTRIG_OT_check_dependencies
    monkeypatch.setattr(P.PREFERENCES.check, "running", False)
    monkeypatch.setattr(P.PREFERENCES.check, "python", "/x/python")
    monkeypatch.setattr(P.PREFERENCES.check, "report", dependencies.run_doctor(tmp_path / "no-python"))
    assert drive(check, operator(check), None) == {"FINISHED"}
    assert reports[-1][0] == "ERROR" and "could not be run" in reports[-1][1]

    download = P.LIFTRIG_OT_download_pose_model
    monkeypatch.setattr(P.PREFERENCES.download, "running", False)
    monkeypatch.setattr(P.PREFERENCES.download, "error", "")
    monkeypatch.setattr(P.PREFERENCES.download, "text", "The lite pose model is in the cache")
    assert drive(download, operator(download), None) == {"FINISHED"}
    assert reports[-1] == ("INFO", "The lite pose model is in the cache")
    removed.clear()
    for cls in (install, check, download):
        cls.cancel(operator(cls), context)
    assert removed == ["timer"] * 3

    # Disabling the add-on mid-run frees these operators without calling cancel(): the
    # preferences' unregister() removes the timers they leave behind.
    context.window_manager.event_timer_add = lambda step, window=None: "left"
    context.window = None
    assert P._add_timer(context) == "left" and P.PREFERENCES.timers == ["left"]
    monkeypatch.setattr(bpy, "context", context)
    monkeypatch.setattr(P.PREFERENCES.download, "cancel", False)
    removed.clear()
    P.LIFTRIG_AP_preferences.unregister()
    assert removed == ["left"] and P.PREFERENCES.timers == []
