# SPDX-License-Identifier: GPL-3.0-or-later
"""What this Python can do for LiftRig: ``liftrig doctor [--json]`` for a person, and the
worker's ``--check doctor`` for Blender's preferences ("Check", with the worker's interpreter).

Checks the interpreter, the modules the worker needs (torch and the device it finds, MediaPipe,
OpenCV, SciPy, numpy, safetensors, tqdm), the MediaPipe pose model and LiftRig's default lifter
weights. A missing or broken module is reported by name, never as a traceback; each problem
names its fix.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys

from ..requirements import PACKAGES

FIX_PRIVATE = ("in Blender use Preferences > Add-ons > LiftRig > Install dependencies, "
               "or run: {python} -m pip install {requirement}")

# (import name, pip requirement, needed): requirements.py's list, torch among them.
MODULES = tuple((name, requirement, True) for name, requirement in PACKAGES[:1]) + (
    ("torch", "torch", True),) + tuple((name, requirement, True) for name, requirement in PACKAGES[1:])



def _check(name, ok, detail, needed=True, fix=""):
    return {"name": name, "ok": bool(ok), "detail": detail, "needed": needed, "fix": fix}


def _import(name):
    """(module, None) or (None, a one-line reason)."""
    try:
        return importlib.import_module(name), None
    except ImportError as exc:
        if getattr(exc, "name", None) == name:
            return None, "not installed"
        return None, f"cannot be imported: {type(exc).__name__}: {exc}".splitlines()[0]
    except BaseException as exc:            # a broken module must not end the check
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, f"cannot be imported: {type(exc).__name__}: {exc}".splitlines()[0]


def _torch_device(torch) -> tuple[str, str]:
    try:
        if torch.cuda.is_available():
            return "cuda", f"cuda ({torch.cuda.get_device_name(0)})"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps", "mps (Apple GPU)"
    except Exception as exc:
        return "cpu", f"cpu (GPU query failed: {exc})"
    return "cpu", "cpu (no GPU found)"


def check(pose_model: str = "full") -> dict:
    """Everything the report holds, as a JSON-ready dict."""
    python = sys.executable
    checks = []
    version = platform.python_version()
    good_python = sys.version_info[:2] == (3, 11)
    checks.append(_check("python", good_python, f"{version} ({python})", True,
                         "" if good_python else "LiftRig needs Python 3.11 (Blender 4.2-5.0's)"))
    versions = {}
    device = None
    for name, requirement, needed in MODULES:
        module, why = _import(name)
        fix = FIX_PRIVATE.format(python=python, requirement=f'"{requirement}"')
        if module is None:
            checks.append(_check(name, False, why, needed, fix))
            continue
        ver = str(getattr(module, "__version__", "unknown"))
        versions[name] = ver
        ok, detail = True, ver
        if name == "numpy" and ver.split(".")[0] not in ("1",):
            ok, detail = False, f"{ver}: LiftRig needs numpy 1.x (opencv-python<4.12, Blender)"
        if name == "torch":
            device, text = _torch_device(module)
            detail = f"{ver}, device {text}"
        checks.append(_check(name, ok, detail, needed, "" if ok else fix))

    checks.append(_pose_model_check(pose_model))
    from ..lifter.default_weights import PACKAGED, find_default_weights

    found = find_default_weights()
    checks.append(_check("default weights", found is not None,
                         str(found) if found else f"missing: {PACKAGED}", False,
                         "" if found else "install them in Preferences > Add-ons > LiftRig > "
                         "Default lifter, or pick a lifter checkpoint file in the panel"))
    problems = [f"{c['name']}: {c['detail']}" + (f" - fix: {c['fix']}" if c["fix"] else "")
                for c in checks if c["needed"] and not c["ok"]]
    return {"ok": not problems, "python": {"version": version, "executable": python},
            "versions": versions, "device": device, "checks": checks, "problems": problems}


def _pose_model_check(pose_model: str) -> dict:
    try:
        from ..detect.pose_models import POSE_MODELS, resolve_pose_model
        from ..errors import LiftRigError
        from ..paths import cache_dir
    except Exception as exc:                # pragma: no cover - the package itself is broken
        return _check("pose model", False, f"cannot look: {exc}", True)
    try:
        path = resolve_pose_model(pose_model, download=False)
        return _check("pose model", True, f"{pose_model}: {path}", True)
    except LiftRigError as exc:
        if pose_model in POSE_MODELS and not os.environ.get("LIFTRIG_OFFLINE"):
            where = cache_dir() / "models"
            return _check("pose model", False,
                          f"{pose_model}: not downloaded yet (into {where} on first use)", False,
                          "downloaded with its checksum on the first run (needs online access)")
        return _check("pose model", False, str(exc), True,
                      "choose an existing .task file or a model name (lite, full, heavy)")


def format_report(report: dict) -> str:
    lines = []
    for c in report["checks"]:
        mark = "ok " if c["ok"] else ("-- " if not c["needed"] else "NO ")
        lines.append(f"{mark} {c['name']:<16} {c['detail']}")
    if report["problems"]:
        lines.append("")
        lines.append("Missing for LiftRig:")
        lines += [f"  {p}" for p in report["problems"]]
    else:
        lines.append("")
        lines.append("Everything LiftRig needs is here.")
    return "\n".join(lines)
