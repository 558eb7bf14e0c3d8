# SPDX-License-Identifier: GPL-3.0-or-later
"""The package itself: light import, layout, command line."""

import subprocess
import sys
import tomllib
from pathlib import Path

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
    assert found == listed


def test_python_dash_m_and_console_script_agree():
    a = subprocess.run([sys.executable, "-m", "liftrig", "--help"], capture_output=True, text=True)
    b = subprocess.run([str(Path(sys.executable).parent / "liftrig"), "--help"],
                       capture_output=True, text=True)
    assert a.returncode == b.returncode == 0
    assert "keypoints" in a.stdout and a.stdout.replace("__main__.py", "liftrig") == b.stdout
