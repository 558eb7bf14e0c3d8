# SPDX-License-Identifier: GPL-3.0-or-later
"""The private worker environment's plain logic, for real: a small venv built by the install
job with a local wheel (``pip install --no-index``: no network, no torch), the .pth link to
``liftrig``, pip's progress, a failed and a cancelled install leaving the old one intact."""

import base64
import hashlib
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from liftrig.addon import dependencies as deps

ROOT = Path(__file__).resolve().parents[1]


def make_wheel(folder: Path, name: str = "liftrig_tinypkg", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel (written by hand: no build backend, no network)."""
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         "Tag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            data = text.encode()
            zf.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        zf.writestr(f"{dist}/RECORD", "\n".join(record + [f"{dist}/RECORD,,"]) + "\n")
    return wheel


def wheel_of_installed(name: str, folder: Path) -> Path:
    """A wheel of a pure-Python distribution installed here (pip itself, for the offline
    "Updating pip" step), rebuilt from its installed files and RECORD."""
    from importlib import metadata

    dist = metadata.distribution(name)
    info = f"{dist.metadata['Name']}-{dist.version}.dist-info"
    wheel = folder / f"{dist.metadata['Name']}-{dist.version}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in dist.files:
            path = str(file)
            if (path.startswith("..") or "__pycache__" in path or path.endswith(
                    ("/INSTALLER", "/REQUESTED", "/direct_url.json", "/RECORD"))):
                continue
            data = file.read_binary()
            zf.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        zf.writestr(f"{info}/RECORD", "\n".join(record + [f"{info}/RECORD,,"]) + "\n")
    return wheel


def test_install_plan_command_lines(tmp_path):
    venv = tmp_path / "venv"
    staging, steps = deps.install_plan("/blender/python", venv, tmp_path / "pp", ROOT,
                                       torch_build="CPU")
    assert staging == tmp_path / "venv.new"
    py = str(deps.venv_python(staging))
    assert [s.command for s in steps[:4]] == [
        ["/blender/python", "-m", "venv", str(staging)],
        [py, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
         "--progress-bar", "off", "pip>=24.1"],
        [py, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
         "--progress-bar", "raw", "--index-url",
         "https://download.pytorch.org/whl/cpu", "torch==2.13.0"],
        [py, "-m", "pip", "install", *deps.PIP_FLAGS, "-c", str(ROOT / "constraints.txt"),
         "numpy>=1.26,<2",
         "opencv-python>=4.8,<4.12", "mediapipe>=0.10.14", "scipy>=1.11", "safetensors>=0.4",
         "tqdm>=4.66"],
    ]
    assert steps[4].command is None and callable(steps[4].action) and len(steps) == 5
    assert steps[2].expected_bytes < 1e9
    assert not any("site-packages" in " ".join(s.command or []) for s in steps)
    _, cuda = deps.install_plan("/blender/python", venv, tmp_path / "pp", ROOT,
                                torch_build="CU128")
    assert cuda[2].command[cuda[2].command.index("--index-url") + 1].endswith("/whl/cu128")
    assert cuda[2].expected_bytes > 1e9
    with pytest.raises(ValueError):
        deps.install_plan("/b/python", venv, tmp_path, ROOT, torch_build="ROCM")


PIP_LOG = """\
Looking in indexes: https://download.pytorch.org/whl/cpu
Collecting torch==2.13.0
  Downloading https://download.pytorch.org/whl/cpu/torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl (184.3 MB)
Progress 0 of 184300000
Progress 92150000 of 184300000
Progress 184300000 of 184300000
Collecting filelock (from torch==2.13.0)
  Downloading filelock-3.20.0-py3-none-any.whl (16 kB)
Progress 0 of 16000
Progress 16000 of 16000
Collecting sympy>=1.13.3 (from torch==2.13.0)
  Using cached sympy-1.14.0-py3-none-any.whl (6.3 MB)
Installing collected packages: mpmath, sympy, filelock, torch
Successfully installed filelock-3.20.0 mpmath-1.3.0 sympy-1.14.0 torch-2.13.0+cpu
"""


def test_pip_progress_is_coarse_and_monotonic():
    progress = deps.PipProgress(expected_packages=4, expected_bytes=200e6)
    seen = []
    for line in PIP_LOG.splitlines():
        progress.feed(line)
        seen.append((progress.fraction, progress.text))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert seen[1] == (pytest.approx(0.7 / 4), "Resolving torch==2.13.0")
    assert seen[2][1] == "Downloading torch (184.3 MB)"
    assert seen[4] == (pytest.approx(0.7 * 92.15 / 200), "Downloading torch (92 of 184 MB)")
    assert seen[5][0] == pytest.approx(0.7 * 184.3 / 200)
    assert seen[9][0] == pytest.approx(0.7 * 184.316 / 200)       # bytes add up
    assert seen[12] == (0.75, "Installing 4 packages")
    assert progress.collected == 3 and progress.errors == []
    progress.feed("ERROR: No matching distribution found for nothing-here")
    assert progress.errors == ["No matching distribution found for nothing-here"]


def test_link_package_symlink_and_copy_fallback(tmp_path, monkeypatch):
    source = tmp_path / "somewhere" / "checkout"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("WHERE = 'source'\n")
    shim = deps.link_package(source, tmp_path / "pp")
    entry = shim / "liftrig"
    assert entry.is_symlink() and os.path.samefile(entry, source)
    assert deps.link_package(source, shim) == shim and entry.is_symlink()   # kept as is
    other = tmp_path / "other"
    other.mkdir()
    deps.link_package(other, shim)                                          # re-pointed
    assert os.path.samefile(entry, other) and source.is_dir()

    def refuse(*args, **kwargs):
        raise OSError("links not allowed here")

    monkeypatch.setattr(Path, "symlink_to", refuse)
    deps.link_package(source, shim)
    assert not entry.is_symlink() and (entry / "__init__.py").read_text() == "WHERE = 'source'\n"
    assert (entry / ".liftrig-copy").is_file() and other.is_dir() and source.is_dir()
    env = deps.env_with_package(shim, base={"PYTHONPATH": "/a", "PYTHONHOME": "/blender"})
    assert env["PYTHONPATH"] == os.pathsep.join([str(shim), "/a"])
    assert "PYTHONHOME" not in env and env["PYTHONNOUSERSITE"] == "1"


def _run_job(staging, steps, tmp_path, timeout=300):
    job = deps.InstallJob(staging, steps, log_path=tmp_path / "logs" / "install.log").start()
    fractions = []
    deadline = time.monotonic() + timeout
    while not job.state.done and time.monotonic() < deadline:
        fractions.append(job.state.fraction)
        time.sleep(0.05)
    job.wait(5)
    return job, fractions


def test_install_job_builds_a_private_venv_offline(tmp_path):
    wheel = make_wheel(tmp_path)
    wheel_of_installed("pip", tmp_path)
    offline = ("--no-index", "--find-links", str(tmp_path))
    venv = tmp_path / "user" / "venv"
    staging, steps = deps.install_plan(sys.executable, venv, tmp_path / "user" / "pythonpath",
                                       ROOT, torch=None, requirements=[str(wheel)],
                                       pip_extra=offline)
    assert steps[2].command[-4:] == [*offline, str(wheel)]
    job, fractions = _run_job(staging, steps, tmp_path)
    assert job.state.ok, (job.state.error, job.state.log[-20:])
    assert job.state.fraction == 1.0 and fractions == sorted(fractions)
    assert not staging.exists() and deps.installed_python(venv) == deps.venv_python(venv)
    assert deps.read_marker(venv)["requirements"] == [str(wheel)]
    log = (tmp_path / "logs" / "install.log").read_text()
    assert "Successfully installed liftrig-tinypkg-1.0" in log
    pip = subprocess.run([str(deps.venv_python(venv)), "-m", "pip", "--version"],
                         capture_output=True, text=True, timeout=60).stdout
    assert tuple(map(int, pip.split()[1].split(".")[:2])) >= (24, 1), pip   # raw bar known
    # The new interpreter imports the local package, and `liftrig` from this checkout
    # through the .pth link (the venv was built elsewhere and moved: still works).
    probe = subprocess.run(
        [str(deps.venv_python(venv)), "-c",
         "import sys, liftrig_tinypkg, liftrig, liftrig.pipeline.doctor;"
         "print(liftrig_tinypkg.VALUE, liftrig.__file__, sys.prefix)"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""}, timeout=60)
    assert probe.returncode == 0, probe.stderr
    value, init, prefix = probe.stdout.split()
    assert value == "42" and os.path.samefile(init, ROOT / "__init__.py")
    assert os.path.samefile(prefix, venv)
    pth = deps.venv_site_packages(venv) / deps.PTH_NAME
    assert pth.read_text().strip() == str((tmp_path / "user" / "pythonpath").resolve())
    no_torch = deps.run_doctor(deps.venv_python(venv), env={**os.environ, "PYTHONPATH": ""})
    assert no_torch["ok"] is False and "torch: not installed" in no_torch["problems"][1]

    # A reinstall that fails (a package pip cannot find offline) keeps the working venv.
    staging, steps = deps.install_plan(sys.executable, venv, tmp_path / "user" / "pythonpath",
                                       ROOT, torch=None, requirements=["liftrig-not-a-package"],
                                       pip_extra=offline)
    job, _ = _run_job(staging, steps, tmp_path)
    assert not job.state.ok and not job.state.cancelled
    assert "No matching distribution" in job.state.error, job.state.error
    assert not staging.exists() and deps.installed_python(venv) is not None
    assert deps.read_marker(venv)["requirements"] == [str(wheel)]


def test_install_job_cancels_within_a_second(tmp_path):
    venv = tmp_path / "venv"
    staging = tmp_path / "venv.new"
    steps = [deps.Step("Creating", 0.1, [sys.executable, "-m", "venv", "--without-pip",
                                         str(staging)]),
             deps.Step("Waiting", 0.9, [sys.executable, "-c",
                                        "import time\nprint('Collecting x', flush=True)\n"
                                        "time.sleep(60)"])]
    job = deps.InstallJob(staging, steps).start()
    deadline = time.monotonic() + 120
    while "Collecting x" not in job.state.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert staging.is_dir()
    started = time.monotonic()
    job.cancel()
    state = job.wait(10)
    assert state.done and state.cancelled and not state.ok
    assert time.monotonic() - started < 1.5
    assert not staging.exists() and not venv.exists()
