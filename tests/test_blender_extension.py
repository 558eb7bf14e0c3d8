# SPDX-License-Identifier: GPL-3.0-or-later
"""The extension package: built with Blender's own tool from the bpy wheel, validated, installed
into the bpy module's user extensions (a private folder), enabled, and its `liftrig` command
registered; then disabled cleanly."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[1]

INSTALL = r"""
import sys, bpy, addon_utils
result = bpy.ops.extensions.package_install_files(
    filepath=sys.argv[1], repo="user_default", enable_on_install=True)
assert result == {"FINISHED"}, result
name = "bl_ext.user_default.liftrig"
assert addon_utils.check(name) == (True, True), addon_utils.check(name)
module = sys.modules[name]
assert module.__file__.startswith(bpy.utils.user_resource("EXTENSIONS")), module.__file__
assert module.addon._cli_handle is not None          # `blender --command liftrig` exists
addon_utils.disable(name, default_set=True)
assert module.addon._cli_handle is None
print("installed and enabled from", module.__file__)
"""


def blender_ext() -> Path:
    import importlib.util

    bpy_dir = Path(importlib.util.find_spec("bpy").origin).parent
    return sorted(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))[-1]


def build_extension(package: Path) -> Path:
    """The extension zip built from this checkout with Blender's own tool."""
    build = subprocess.run([sys.executable, str(blender_ext()), "build", "--source-dir",
                            str(ROOT), "--output-filepath", str(package)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    return package


def test_extension_builds_validates_installs_and_enables(tmp_path):
    package = tmp_path / "liftrig-0.1.0.zip"
    build_extension(package)
    names = set(zipfile.ZipFile(package).namelist())
    assert {"addon/animation.py", "addon/batch.py", "addon/batch_script.py", "pipeline/solve.py",
            "blender_manifest.toml"} <= names
    assert not [n for n in names if n.split("/")[0] in {"tests", "training", "benchmarks"}]
    assert not [n for n in names if n.split("/")[0] in {".pytest_cache", ".gitignore", "runs"}
                or n.endswith(".pyc")]                     # local leftovers stay out too
    # The CC BY-NC default weights are not bundled (the preferences install them); the model
    # card that says so, and the pins the dependency installer uses, are.
    assert not [n for n in names if n.endswith(".safetensors")]
    assert {"lifter/weights/MODEL_CARD.md", "constraints.txt", "requirements.py"} <= names
    check = subprocess.run([sys.executable, str(blender_ext()), "validate", str(package)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    run = subprocess.run([sys.executable, "-c", INSTALL, str(package)], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "installed and enabled from " + str(tmp_path / "user") in run.stdout


def test_the_extensions_liftrig_runs_without_training(tmp_path):
    """The extension ships without training/: its command line still works (as the worker's
    and Check's Python import it), without the train and evaluate commands."""
    package = tmp_path / "liftrig.zip"
    build_extension(package)
    zipfile.ZipFile(package).extractall(tmp_path / "site" / "liftrig")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    # -S: without site-packages, where this checkout's editable install would supply training/
    run = subprocess.run([sys.executable, "-S", "-m", "liftrig", "--help"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    commands = {line.split()[0] for line in run.stdout.splitlines() if line.startswith("    ")}
    assert {"keypoints", "lift", "retarget"} <= commands and not {"train", "evaluate"} & commands
    where = subprocess.run([sys.executable, "-S", "-c", "import liftrig; print(liftrig.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert where.stdout.startswith(str(tmp_path / "site"))        # the extension's, not ours
