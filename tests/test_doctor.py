# SPDX-License-Identifier: GPL-3.0-or-later
"""`liftrig doctor` and the worker's `--check doctor` (what Blender's preferences run): run for
real with the test environment's Python (everything there) and with a bare virtual environment that only sees `liftrig` (torch missing)."""

import json
import os
import subprocess
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from liftrig.addon import dependencies
from conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "LIFTRIG_POSE_MODEL", "LIFTRIG_OFFLINE")}
    env.update(LIFTRIG_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1", **extra)
    return env


def test_doctor_with_the_full_environment(tmp_path):
    model = shared_path("models", "pose_landmarker_full.task")
    run = subprocess.run([sys.executable, "-m", "liftrig", "doctor", "--json", "--pose-model",
                          str(model)], capture_output=True, text=True, env=_env(tmp_path),
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["ok"] is True and report["problems"] == []
    assert report["python"]["version"] == "%d.%d.%d" % sys.version_info[:3]
    assert report["python"]["executable"] == sys.executable
    assert report["versions"]["torch"] == metadata.version("torch")
    assert report["versions"]["mediapipe"] == metadata.version("mediapipe")
    assert report["versions"]["scipy"] == metadata.version("scipy")
    assert report["device"] in ("cpu", "cuda", "mps")
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) == {"python", "numpy", "torch", "mediapipe", "cv2", "scipy",
                           "safetensors", "tqdm", "pose model", "default weights"}
    assert all(c["ok"] for c in checks.values()), checks
    assert checks["torch"]["detail"].startswith(metadata.version("torch") + ", device ")
    assert str(model) in checks["pose model"]["detail"]
    assert checks["default weights"]["detail"].endswith("default.safetensors")


def test_doctor_text_and_a_model_not_downloaded_yet(tmp_path):
    run = subprocess.run([sys.executable, "-m", "liftrig", "doctor", "--pose-model", "lite"],
                         capture_output=True, text=True, env=_env(tmp_path), timeout=300)
    # Not downloaded yet is fine while downloads are allowed (it comes on first use) ...
    assert run.returncode == 0, run.stdout + run.stderr
    assert "not downloaded yet" in run.stdout and "Everything LiftRig needs is here" in run.stdout
    # ... but offline it is a problem, named with its fix.
    run = subprocess.run([sys.executable, "-m", "liftrig", "doctor", "--pose-model", "lite"],
                         capture_output=True, text=True, env=_env(tmp_path, LIFTRIG_OFFLINE="1"),
                         timeout=300)
    assert run.returncode == 1
    assert "Missing for LiftRig" in run.stdout and "pose model" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory):
    """A venv without pip or any package, seeing `liftrig` through the .pth link, and a
    `mediapipe` module that raises when imported."""
    base = tmp_path_factory.mktemp("bare")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    shim = dependencies.link_package(ROOT, base / "pythonpath")
    (shim / "mediapipe.py").write_text("raise RuntimeError('broken on purpose')\n")
    dependencies.write_pth(venv, shim)
    return dependencies.venv_python(venv)


def test_doctor_without_torch_names_what_is_missing(bare_venv, tmp_path):
    run = subprocess.run([str(bare_venv), "-m", "liftrig", "doctor", "--json"],
                         capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    report = json.loads(run.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is False and report["device"] is None
    assert checks["torch"] == {**checks["torch"], "ok": False, "detail": "not installed"}
    assert "Install dependencies" in checks["torch"]["fix"]
    assert checks["mediapipe"]["detail"] == ("cannot be imported: RuntimeError: "
                                             "broken on purpose")
    assert checks["python"]["ok"] is True
    assert any(p.startswith("torch: not installed") for p in report["problems"])
    assert "torch" not in report["versions"]

    text = subprocess.run([str(bare_venv), "-m", "liftrig", "doctor"], capture_output=True,
                          text=True, env=_env(tmp_path), timeout=120)
    assert text.returncode == 1
    assert "NO  torch" in text.stdout and "Traceback" not in text.stdout + text.stderr


def test_run_doctor_reports_an_interpreter_that_cannot_run_it(tmp_path):
    report = dependencies.run_doctor(tmp_path / "no-such-python")
    assert report["ok"] is False and "could not be run" in report["problems"][0]
    # A Python without liftrig on its path: the report says so instead of failing.
    env = _env(tmp_path, PYTHONNOUSERSITE="1")
    report = dependencies.run_doctor(sys.executable, env={**env, "PYTHONPATH": ""})
    assert report["ok"] is True           # the test venv has liftrig installed
    bare = dependencies.parse_doctor_output(
        "/p/python", 1, "", "/p/python: Error while finding module specification for "
        "'liftrig.doctor' (ModuleNotFoundError: No module named liftrig)\n")
    assert bare["ok"] is False and "cannot import liftrig" in bare["problems"][0]


def test_requirements_follow_pyproject():
    """One list of requirements: pyproject.toml (not shipped in the extension), the doctor, the
    dependency installer and the constraints file that pins what the tests ran on agree."""
    from liftrig import requirements
    from liftrig.pipeline import doctor

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in project["dependencies"] if not d.startswith("torch")]
    assert sorted(pins) == sorted(requirements.REQUIREMENTS) == sorted(dependencies.REQUIREMENTS)
    assert {r for _, r, _ in doctor.MODULES} == set(requirements.REQUIREMENTS) | {"torch"}
    assert requirements.TORCH == "torch==" + metadata.version("torch").split("+")[0]
    pinned = {}
    for line in requirements.CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pinned[name.lower().replace("_", "-")] = version
    assert "torch==" + pinned["torch"] == requirements.TORCH
    # Every requirement is pinned, at the version installed here (the one the tests run on),
    # except in `make test-latest`, which runs the newest releases on purpose.
    for requirement in (*requirements.REQUIREMENTS, "bpy", "pytest"):
        name = re.split(r"[<>=!~ ]", requirement)[0].lower()
        assert name in pinned, name
        if not os.environ.get("LIFTRIG_UNPINNED"):
            assert pinned[name] == metadata.version(name).split("+")[0], name



def test_doctor_json_stays_clean_when_imports_print(bare_venv, tmp_path):
    """A module that prints on import (Python or C level) must not spoil --json's stdout."""
    noisy = tmp_path / "noisy"
    noisy.mkdir()
    (noisy / "scipy.py").write_text(
        "import os, sys\nprint('hello from python')\nos.write(1, b'hello from C\\n')\n"
        "__version__ = '9.9'\n")
    run = subprocess.run([str(bare_venv), "-m", "liftrig", "doctor", "--json"], capture_output=True,
                         text=True, env=_env(tmp_path, PYTHONPATH=str(noisy)), timeout=120)
    report = json.loads(run.stdout)
    assert report["versions"]["scipy"] == "9.9" and run.returncode == 1
    assert "hello from python" in run.stderr and "hello from C" in run.stderr
    # The add-on's way in, the worker's check, keeps its one JSON line as clean.
    report = dependencies.run_doctor(bare_venv, env=_env(tmp_path, PYTHONPATH=str(noisy)))
    assert report["versions"]["scipy"] == "9.9" and report["ok"] is False
