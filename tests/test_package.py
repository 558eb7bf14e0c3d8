# SPDX-License-Identifier: GPL-3.0-or-later
"""The package itself: light import, layout, command line."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from liftrig.errors import LiftRigError

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_light():
    """`import liftrig` must not pull in bpy, torch, mediapipe or cv2."""
    code = ("import sys, liftrig, liftrig.cli, liftrig.formats; "
            "liftrig.cli.build_parser(); "
            "print(sorted(m for m in ('bpy', 'torch', 'mediapipe', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_package_folder_is_listed_in_pyproject():
    """A wheel only contains the packages pyproject lists; editable installs hide a missing one."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"liftrig"}
    for init in ROOT.rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts and rel.parts[0] in {".venv", "tests", "build", "benchmarks"}:
            continue
        if rel.parts:
            found.add("liftrig." + ".".join(rel.parts))
    # Folders of data only (weights, recipes) are declared packages too, so setuptools installs
    # their package-data without warning that an importable folder is missing.
    data_only = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                    ["package-data"]) - found - {"liftrig"}
    assert data_only == {"liftrig.lifter.weights", "liftrig.training.configs"}
    assert found | data_only == listed


def test_python_dash_m_and_console_script_agree():
    a = subprocess.run([sys.executable, "-m", "liftrig", "--help"], capture_output=True, text=True)
    b = subprocess.run([str(Path(sys.executable).parent / "liftrig"), "--help"],
                       capture_output=True, text=True)
    assert a.returncode == b.returncode == 0
    assert "keypoints" in a.stdout and a.stdout.replace("__main__.py", "liftrig") == b.stdout


def _blender_ext() -> Path:
    """Blender's own extension tool, shipped inside the bpy wheel."""
    import importlib.util

    bpy_dir = Path(importlib.util.find_spec("bpy").origin).parent
    tools = sorted(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    assert tools, f"blender_ext.py not found under {bpy_dir}"
    return tools[-1]


def test_manifest_is_valid_for_blender():
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert manifest["id"] == "liftrig" and manifest["name"] == "LiftRig"
    assert manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert manifest["version"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    run = subprocess.run([sys.executable, str(_blender_ext()), "validate", str(ROOT)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_extension_zip_leaves_out_tests_training_and_benchmarks(tmp_path):
    import zipfile

    out = tmp_path / "liftrig.zip"
    run = subprocess.run([sys.executable, str(_blender_ext()), "build", "--source-dir", str(ROOT),
                          "--output-filepath", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    names = zipfile.ZipFile(out).namelist()
    assert "__init__.py" in names and "blender_manifest.toml" in names
    assert any(n.startswith("lifter/") for n in names)
    assert not [n for n in names if n.split("/")[0] in {"tests", "training", "benchmarks", ".venv", ".git"}]


def test_one_rule_chooses_the_worker_python(monkeypatch, tmp_path):
    """Batch runs and scripts keep the work in this process when it can; the panel always uses
    a worker process; a configured interpreter wins; nothing that fits is a one-line error."""
    import sys

    import liftrig.pipeline.solve as pipeline

    monkeypatch.setenv("LIFTRIG_WORKER_PYTHON", "/opt/other/python")
    assert pipeline.choose_worker_python("/my/python", in_process=True) == "/my/python"
    assert pipeline.choose_worker_python(None, in_process=True) is None  # this venv has all
    assert pipeline.choose_worker_python(None, in_process=False) == "/opt/other/python"
    monkeypatch.delenv("LIFTRIG_WORKER_PYTHON")
    assert pipeline.choose_worker_python(None, in_process=False) == sys.executable
    monkeypatch.setattr(pipeline, "_missing_here", lambda: ["torch"])   # a Python without torch
    with pytest.raises(LiftRigError, match="lacks torch: .*--worker-python PATH"):
        pipeline.choose_worker_python(None, in_process=True)
    monkeypatch.setenv("LIFTRIG_WORKER_PYTHON", "/opt/other/python")
    assert pipeline.choose_worker_python(None, in_process=True) == "/opt/other/python"
