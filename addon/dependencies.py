# SPDX-License-Identifier: GPL-3.0-or-later
"""LiftRig's private worker environment, as plain logic (no bpy, testable anywhere).

"Install dependencies" in the preferences never touches Blender's own Python. It builds a
virtual environment *beside* the current one (``venv.new``) with Blender's interpreter
(``python -m venv``), pip-installs torch (CPU or CUDA index) and then the rest of LiftRig's
requirements into it, makes ``liftrig`` importable there, writes a marker file and only then
swaps it in place of ``venv``. A failed or cancelled install deletes ``venv.new`` and leaves a
working environment untouched; an environment without the marker is never used.

How the environment imports ``liftrig``: the extension folder is not necessarily named
``liftrig`` (a Git checkout, a ``bl_ext.<repo>.liftrig`` install) and its parent holds other
extensions that must not become top-level modules. So a small folder of its own (``pythonpath``
in the extension's user folder) holds one entry, ``liftrig``, a link to the extension's package
folder: a symbolic link, else on Windows a directory junction (no privileges needed), else a
copy (refreshed on each install/check). The venv gets a ``liftrig-extension.pth`` naming that
folder; an interpreter the user picked ("Use this Python") is never modified: the worker gets
the folder on ``PYTHONPATH`` instead (:func:`env_with_package`), so it runs the extension's code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..requirements import CONSTRAINTS, REQUIREMENTS, TORCH

TORCH_INDEXES = {
    "CPU": "https://download.pytorch.org/whl/cpu",
    "CU128": "https://download.pytorch.org/whl/cu128",
    "CU130": "https://download.pytorch.org/whl/cu130",
}
MARKER = "liftrig-env.json"
PTH_NAME = "liftrig-extension.pth"
# "raw" prints "Progress N of M" lines for each download (pip 24.1+): the bar can follow the
# torch download, by far the longest part. The venv's own pip (from the base Python's ensurepip)
# may be older, so the first pip step brings it to PIP_MIN with the bar off.
PIP_MIN = "pip>=24.1"
PIP_FLAGS = ("--disable-pip-version-check", "--no-input", "--progress-bar", "raw")
PIP_FLAGS_OLD = ("--disable-pip-version-check", "--no-input", "--progress-bar", "off")
# Rough download sizes (bytes) of each pip step, for the bar; only its pace depends on them.
EXPECTED_BYTES = {"CPU": 260e6, "CU128": 3.2e9, "CU130": 3.2e9, "rest": 190e6, "pip": 2e6}


def venv_python(venv: os.PathLike) -> Path:
    """The interpreter inside a virtual environment folder."""
    venv = Path(venv)
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def venv_site_packages(venv: os.PathLike) -> Path:
    """The site-packages folder of a venv made by a Python of this version."""
    venv = Path(venv)
    if sys.platform == "win32":
        return venv / "Lib" / "site-packages"
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if found:
        return found[-1]
    return venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def installed_python(venv: os.PathLike) -> Path | None:
    """The venv's interpreter if an install finished there (the marker exists), else None."""
    python = venv_python(venv)
    if python.is_file() and (Path(venv) / MARKER).is_file():
        return python
    return None


def read_marker(venv: os.PathLike) -> dict | None:
    try:
        return json.loads((Path(venv) / MARKER).read_text())
    except (OSError, ValueError):
        return None


def package_dir() -> Path:
    """The folder of the ``liftrig`` package this module belongs to (the extension folder)."""
    return Path(__file__).resolve().parent.parent


# -- making `liftrig` importable ------------------------------------------------------------

def link_package(source: os.PathLike, shim: os.PathLike, name: str = "liftrig") -> Path:
    """Make ``shim/<name>`` lead to the package folder ``source``; returns ``shim``.

    A symbolic link, else a Windows directory junction, else a copy of the package's Python
    files. An existing entry that already leads there is kept; anything else there is replaced.
    """
    source, shim = Path(source).resolve(), Path(shim)
    shim.mkdir(parents=True, exist_ok=True)
    entry = shim / name
    if entry.exists() and _same_dir(entry, source) and not (entry / ".liftrig-copy").exists():
        return shim
    _remove(entry)
    try:
        entry.symlink_to(source, target_is_directory=True)
        return shim
    except (OSError, NotImplementedError):
        pass
    if sys.platform == "win32":
        try:
            import _winapi

            _winapi.CreateJunction(str(source), str(entry))
            return shim
        except (ImportError, OSError):
            pass
    shutil.copytree(source, entry, ignore=shutil.ignore_patterns(
        "__pycache__", ".git", ".venv", "tests", "training", "benchmarks", "*.egg-info",
        "*.npz", "*.zip"))
    (entry / ".liftrig-copy").write_text("a copy: links were refused here\n")
    return shim


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _remove(entry: Path) -> None:
    if entry.is_symlink() or (entry.exists() and not entry.is_dir()):
        entry.unlink()
    elif entry.is_dir():
        if sys.platform == "win32" and _is_junction(entry):
            os.rmdir(entry)                     # removes the junction, not its target
        else:
            shutil.rmtree(entry)


def _is_junction(path: Path) -> bool:
    is_junction = getattr(os.path, "isjunction", None)      # Python 3.12+
    if is_junction is not None:
        return is_junction(path)
    try:
        return bool(os.lstat(path).st_file_attributes & 0x400)   # FILE_ATTRIBUTE_REPARSE_POINT
    except (OSError, AttributeError):
        return False


def write_pth(venv: os.PathLike, shim: os.PathLike) -> Path:
    """Put ``shim`` on the venv's ``sys.path`` with a ``.pth`` file in its site-packages."""
    site = venv_site_packages(venv)
    site.mkdir(parents=True, exist_ok=True)
    pth = site / PTH_NAME
    pth.write_text(str(Path(shim).resolve()) + "\n")
    return pth


def env_with_package(shim: os.PathLike | None, base: dict | None = None) -> dict:
    """The environment for a worker interpreter: ``shim`` first on ``PYTHONPATH`` (so the
    extension's ``liftrig`` is the one imported), no user site-packages."""
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONHOME", None)                 # Blender may set it for its own Python
    if shim is not None:
        parts = [str(shim)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(parts)
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


# -- the install plan ---------------------------------------------------------------------

@dataclass
class Step:
    """One stage of the install: a command line, or (``command`` None) a Python callable."""

    label: str
    weight: float
    command: list[str] | None = None
    action: object = None               # callable() run in the job's thread
    expected_packages: int = 10         # pip lines "Collecting ..." expected, for progress
    expected_bytes: float = 0.0         # bytes pip will download, for progress (0: unknown)


def pip_install(python: os.PathLike, requirements, *, index_url: str | None = None,
                extra: tuple = (), flags: tuple = PIP_FLAGS) -> list[str]:
    """``python -m pip install`` of ``requirements`` (an index URL replaces PyPI)."""
    cmd = [str(python), "-m", "pip", "install", *flags]
    if index_url:
        cmd += ["--index-url", index_url]
    return cmd + list(extra) + list(requirements)


def install_plan(base_python: os.PathLike, venv: os.PathLike, shim: os.PathLike,
                 source: os.PathLike, *, torch_build: str = "CPU", torch: str | None = TORCH,
                 requirements=REQUIREMENTS, pip_extra: tuple = (),
                 constraints: os.PathLike | None = CONSTRAINTS) -> tuple[Path, list[Step]]:
    """The steps that build the environment in ``<venv>.new`` and swap it into ``venv``.

    ``torch=None`` leaves torch out (tests); ``pip_extra`` goes to every pip command (tests
    pass ``--no-index``). The requirements are installed at the versions the tests passed on
    (``constraints``, LiftRig's ``constraints.txt``; torch is pinned by itself, since its CUDA
    indexes do not carry every pinned package). Returns the staging folder and the steps.
    """
    pinned = ("-c", str(constraints)) if constraints and Path(constraints).is_file() else ()
    venv = Path(venv)
    staging = venv.with_name(venv.name + ".new")
    python = venv_python(staging)
    if torch and torch_build not in TORCH_INDEXES:
        raise ValueError(f"unknown torch build {torch_build!r}")
    steps = [Step("Creating the environment", 0.04,
                  [str(base_python), "-m", "venv", str(staging)]),
             Step("Updating pip", 0.03,
                  pip_install(python, [PIP_MIN], extra=pip_extra, flags=PIP_FLAGS_OLD),
                  expected_packages=1, expected_bytes=EXPECTED_BYTES["pip"])]
    if torch:
        steps.append(Step(f"Installing PyTorch ({torch_build})", 0.6,
                          pip_install(python, [torch], index_url=TORCH_INDEXES[torch_build],
                                      extra=pip_extra), expected_packages=12,
                          expected_bytes=EXPECTED_BYTES[torch_build]))
    if requirements:
        steps.append(Step("Installing MediaPipe, OpenCV, SciPy", 0.3,
                          pip_install(python, requirements, extra=(*pinned, *pip_extra)),
                          expected_packages=25, expected_bytes=EXPECTED_BYTES["rest"]))

    def finish():
        write_pth(staging, link_package(source, shim))
        (staging / MARKER).write_text(json.dumps({
            "torch_build": torch_build if torch else None, "torch": torch,
            "requirements": list(requirements), "base_python": str(base_python),
            "created": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))
        swap_in(staging, venv)

    steps.append(Step("Linking LiftRig", 0.05, action=finish))
    return staging, steps


def swap_in(staging: Path, venv: Path) -> None:
    """Replace ``venv`` by the finished ``staging`` (the old one removed after the swap)."""
    old = venv.with_name(venv.name + ".old")
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    if venv.exists():
        os.replace(venv, old)
    os.replace(staging, venv)
    shutil.rmtree(old, ignore_errors=True)


# -- pip's output, coarsely ---------------------------------------------------------------

_COLLECTING = re.compile(r"^\s*Collecting (\S+)")
_DOWNLOADING = re.compile(r"^\s*Downloading (\S+)(?: \((.+)\))?")
_INSTALLING = re.compile(r"^\s*Installing collected packages: (.*)")
_DONE = re.compile(r"^\s*Successfully installed (.*)")
_ERROR = re.compile(r"^\s*ERROR: (.*)")
_RAW = re.compile(r"^Progress (\d+) of (\d+)\s*$")


class PipProgress:
    """Reads pip's output line by line into a fraction (0..1) and a short status text."""

    def __init__(self, expected_packages: int = 10, expected_bytes: float = 0.0):
        self.expected = max(1, expected_packages)
        self.expected_bytes = expected_bytes
        self.downloaded = 0             # bytes of the downloads finished
        self.current = (0, 0)           # (done, total) of the download under way
        self.name = ""
        self.collected = 0
        self.fraction = 0.0
        self.text = "Starting pip"
        self.errors: list[str] = []

    def feed(self, line: str) -> None:
        if m := _COLLECTING.match(line):
            self.collected += 1
            self.text = f"Resolving {m.group(1)}"
            self.fraction = max(self.fraction, 0.7 * min(1.0, self.collected / self.expected))
        elif m := _RAW.match(line):
            done, total = int(m.group(1)), int(m.group(2))
            if done < self.current[0]:          # a new download began
                self.downloaded += self.current[0]
            self.current = (done, total)
            if total:
                self.text = f"Downloading {self.name} ({done / 1e6:.0f} of {total / 1e6:.0f} MB)"
            if self.expected_bytes:
                share = min(1.0, (self.downloaded + done) / self.expected_bytes)
                self.fraction = max(self.fraction, 0.7 * share)
        elif m := _DOWNLOADING.match(line):
            self.downloaded += self.current[0]
            self.current = (0, 0)
            name = m.group(1).rsplit("/", 1)[-1]
            self.name = name.split("-")[0]
            self.text = f"Downloading {self.name}" + (f" ({m.group(2)})" if m.group(2) else "")
        elif m := _INSTALLING.match(line):
            count = len([p for p in m.group(1).split(",") if p.strip()])
            self.text = f"Installing {count} packages"
            self.fraction = max(self.fraction, 0.75)
        elif m := _DONE.match(line):
            self.text = "Installed " + m.group(1)[:80]
            self.fraction = 1.0
        elif m := _ERROR.match(line):
            self.errors.append(m.group(1).strip())


# -- running it in the background ---------------------------------------------------------

@dataclass
class JobState:
    fraction: float = 0.0
    text: str = ""
    done: bool = False
    ok: bool = False
    cancelled: bool = False
    error: str = ""
    log: list = field(default_factory=list)


class InstallJob:
    """Runs :func:`install_plan`'s steps in a thread; the UI polls :attr:`state` from a timer
    and may :meth:`cancel` (the running command is terminated, ``venv.new`` removed)."""

    def __init__(self, staging: Path, steps: list[Step], log_path: os.PathLike | None = None,
                 env: dict | None = None):
        self.staging = Path(staging)
        self.steps = steps
        self.state = JobState(text="Starting")
        self.log_path = Path(log_path) if log_path else None
        self.env = env
        self._proc: subprocess.Popen | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="liftrig-install", daemon=True)

    def start(self) -> "InstallJob":
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()

    def wait(self, timeout: float | None = None) -> JobState:
        self._thread.join(timeout)
        return self.state

    def _log(self, line: str) -> None:
        self.state.log.append(line)
        del self.state.log[:-400]
        if self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def _run(self) -> None:
        state = self.state
        total = sum(s.weight for s in self.steps) or 1.0
        before = 0.0
        try:
            if self.log_path is not None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                self.log_path.write_text("")
            if self.staging.exists():
                shutil.rmtree(self.staging)
            for step in self.steps:
                if self._cancel.is_set():
                    raise _Cancelled()
                state.text = step.label
                self._log(f"== {step.label}")
                if step.command is None:
                    step.action()
                else:
                    self._run_command(step, lambda f: setattr(
                        state, "fraction", (before + step.weight * f) / total))
                before += step.weight
                state.fraction = before / total
            state.ok = True
            state.text = "Dependencies installed"
        except _Cancelled:
            state.cancelled = True
            state.text = "Install cancelled"
        except Exception as exc:            # reported to the user, never raised in Blender
            state.error = str(exc) or type(exc).__name__
            state.text = "Install failed"
            self._log(f"error: {state.error}")
        finally:
            if not state.ok:
                shutil.rmtree(self.staging, ignore_errors=True)
            state.done = True

    def _run_command(self, step: Step, set_fraction) -> None:
        progress = PipProgress(step.expected_packages, step.expected_bytes)
        self._log("$ " + subprocess.list2cmdline(step.command))
        env = dict(self.env if self.env is not None else os.environ)
        env.update(PYTHONUNBUFFERED="1", PYTHONNOUSERSITE="1", PIP_NO_INPUT="1")
        env.pop("PYTHONHOME", None)
        env.pop("PYTHONPATH", None)
        with self._lock:
            if self._cancel.is_set():
                raise _Cancelled()
            self._proc = subprocess.Popen(step.command, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True, env=env,
                                          errors="replace")
        proc = self._proc
        for line in proc.stdout:
            line = line.rstrip()
            if not _RAW.match(line):            # the download ticks stay out of the log
                self._log(line)
            progress.feed(line)
            self.state.text = f"{step.label}: {progress.text}"
            set_fraction(progress.fraction)
        code = proc.wait()
        proc.stdout.close()
        if self._cancel.is_set():
            raise _Cancelled()
        if code != 0:
            why = progress.errors[-1] if progress.errors else (
                self.state.log[-1] if self.state.log else f"exit code {code}")
            raise RuntimeError(f"{step.label} failed: {why}")


class _Cancelled(Exception):
    pass


# -- the check ----------------------------------------------------------------------------

def run_doctor(python: os.PathLike, env: dict | None = None, pose_model: str | None = None,
               timeout: float = 300.0) -> dict:
    """Run the worker's doctor check (``python -m liftrig.pipeline.worker --check doctor``) and
    return its report; an interpreter that cannot run it at all gives a report with ``ok``
    False and the reason."""
    from ..pipeline.worker_process import check_command

    try:
        proc = subprocess.run(check_command(python, "doctor", pose_model or "full"),
                              capture_output=True,
                              text=True, env=env, timeout=timeout, errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"ok": False, "python": {"executable": str(python)}, "checks": [],
                "problems": [f"{python} could not be run: {exc}"]}
    return parse_doctor_output(python, proc.returncode, proc.stdout, proc.stderr)


def parse_doctor_output(python, returncode: int, stdout: str, stderr: str) -> dict:
    try:
        report = json.loads(stdout)
        if isinstance(report, dict) and "checks" in report:
            return report
    except ValueError:
        pass
    tail = (stderr.strip().splitlines() or ["no output"])[-1]
    if "No module named liftrig" in stderr:
        tail = (f"{python} cannot import liftrig; install the dependencies into a private "
                "environment instead, or pick a Python that has LiftRig installed")
    return {"ok": False, "python": {"executable": str(python)}, "checks": [],
            "problems": [f"the check did not run (exit code {returncode}): {tail}"]}
