# SPDX-License-Identifier: GPL-3.0-or-later
"""Background jobs for the panel: plain Python that a modal operator drives, testable without
a window.

A :class:`LiftJob` reads the target armature on the main thread (:meth:`LiftJob.start`), then a
thread runs :func:`liftrig.pipeline.solve.solve_for_blender` with a worker process (decoding, 2D
keypoints, lifting and retargeting happen there; a video's joints go through the joints
cache) and pushes its progress and result into a queue. :meth:`LiftJob.poll`, called by the
operator's timer on the main thread, drains the queue and, when the motion arrives, writes it
with :func:`liftrig.addon.animation.apply_motion` (all or nothing). :meth:`LiftJob.cancel` kills
the worker at once; nothing has touched the scene before the keys are written, so it stays as
it was.

Also here: which Python runs the worker, the persistent worker logs, and the video probe that
the panel shows (run by the worker's Python, so Blender's needs no OpenCV).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import Cancelled, LiftRigError
from ..options import LiftOptions
from ..pipeline.clips import clip_name
from ..pipeline.solve import choose_worker_python
from ..pipeline.worker_process import check_command

RUNNING, FINISHED, FAILED, CANCELLED = "RUNNING", "FINISHED", "FAILED", "CANCELLED"
KEPT_LOGS = 30


# --- the worker's Python and its logs --------------------------------------------------------

def worker_python(context=None, source=None) -> str:
    """The interpreter that runs the worker: the one set in LiftRig's preferences, else
    ``$LIFTRIG_WORKER_PYTHON``, else this Python when it has LiftRig's requirements (the rule of
    :func:`liftrig.pipeline.solve.choose_worker_python`; the panel always uses a worker process)."""
    configured = None
    try:
        from . import preferences

        configured = preferences.worker_python(context)
    except ImportError:
        pass
    return choose_worker_python(configured, source, in_process=False,
                                fix="in Edit > Preferences > Add-ons > LiftRig, install the "
                                    "dependencies or choose a Python that has them")


def worker_env(context=None) -> dict | None:
    """The worker's environment from LiftRig's preferences (the extension's ``liftrig`` on
    ``PYTHONPATH``, offline when Blender's online access is off); None: this process's."""
    try:
        from . import preferences

        if preferences.preferences(context) is None:   # not enabled as an add-on (scripts)
            return None
        return preferences.extension_env(context)
    except ImportError:
        return None


def two_d_jobs(context=None, jobs: int = 0) -> int | None:
    """The 2D processes for a run: ``jobs`` (the panel's) if set, else the preferences',
    else None (every core)."""
    try:
        from . import preferences

        return preferences.jobs_choice(context, jobs)
    except ImportError:
        return jobs or None


def pose_model(context=None, name: str = "full") -> str:
    """The pose model for a run: the local .task file the preferences name, else ``name``."""
    try:
        from . import preferences

        return preferences.pose_model_choice(context, name)
    except ImportError:
        return name


def logs_dir() -> Path:
    """Where the workers' logs are kept (the user cache's ``logs`` folder)."""
    from ..paths import cache_dir

    return cache_dir() / "logs"


def new_log_path(source) -> Path:
    """A fresh log file path for a run on ``source``; only the newest logs are kept."""
    folder = logs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    old = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
    for path in old[:max(0, len(old) - KEPT_LOGS + 1)]:
        path.unlink(missing_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return folder / f"{stamp}-{os.getpid()}-{clip_name(source)}.log"


# --- short checks in the worker's Python: the video probe, the bone mapping -------------------

_RESULTS: dict = {}                   # key -> dict, or None while its check runs
_RESULTS_LOCK = threading.Lock()


def _run_check(python: str, kind: str, argument: str, what: str, env=None) -> dict:
    """Run one of the worker's short checks (:func:`liftrig.pipeline.worker.check`) with ``python`` in
    ``env`` (None: this process's); its dict, or ``{"error"}``."""
    try:
        run = subprocess.run(check_command(python, kind, argument), capture_output=True,
                             text=True, timeout=120, env=env)
        lines = run.stdout.strip().splitlines()
        if run.returncode == 0 and lines:
            return json.loads(lines[-1])
        why = (run.stderr.strip().splitlines() or ["no output"])[-1]
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        why = str(exc)
    return {"error": f"the worker's Python ({python}) could not {what}: {why}"}


def _background(key, python: str | None, job, wait: bool, env=None):
    """The cached result of ``job(env)`` (a dict) under ``key``; None while it runs in a thread
    started here. ``env``: the worker's environment, or a function that gives it, called on
    this (main) thread only when the check starts. ``wait``: block until it is known."""
    if python is None:                 # not remembered: the user may set one next
        return {"error": "no worker Python: set one in LiftRig's preferences"}
    key = (python,) + tuple(key)
    with _RESULTS_LOCK:
        known = key in _RESULTS
        if not known:
            _RESULTS[key] = None
    if not known:
        env = env() if callable(env) else env

        def work():
            result = job(env)
            with _RESULTS_LOCK:
                _RESULTS[key] = result

        threading.Thread(target=work, daemon=True, name="liftrig-check").start()
    while True:
        with _RESULTS_LOCK:
            result = _RESULTS.get(key)
        if result is not None or not wait:
            return result
        time.sleep(0.05)


def known(key, python: str):
    """A check's result if it is known (None: not asked, or still running)."""
    with _RESULTS_LOCK:
        return _RESULTS.get((python,) + tuple(key))


def video_info(path, python: str | None, wait: bool = False, env=None):
    """What the panel shows about a video: ``{"frames", "fps", "width", "height"}``, or
    ``{"error": message}``; None while the probe runs in the background (started here; the
    result is cached per path, modification time and size). The probe runs in the worker's
    Python, so Blender's needs no OpenCV. ``wait``: block until known (tests, scripts);
    ``env``: see :func:`_background`."""
    path = Path(path)
    if not path.is_file():
        return {"error": f"video not found: {path}"}
    stat = path.stat()
    key = ("video", str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    return _background(key, python, lambda e: _run_check(python, "video", key[1],
                                                          "read the video", e), wait, env)


def mapping_key(spec, bone_map) -> tuple:
    """What a mapping check's result depends on: the bones, their rest pose, the map."""
    import hashlib

    rest = hashlib.sha256(spec.matrices.tobytes() + spec.lengths.tobytes()).hexdigest()
    return ("mapping", spec.name, spec.bone_names, spec.parent_names, rest,
            None if bone_map is None else str(bone_map))


def mapping_info(spec, bone_map, python: str | None, wait: bool = False, env=None):
    """How the armature ``spec`` (an ArmatureSpec) binds to ``bone_map`` (None: detect the
    preset): ``{"report"}`` (the preset found and the bones left undriven) or ``{"error"}``;
    None while the check runs in the worker's Python (Blender's has no scipy)."""
    import pickle
    import tempfile

    def check(env):
        with tempfile.TemporaryDirectory(prefix="liftrig-map-") as tmp:
            job = Path(tmp) / "spec.pickle"
            with open(job, "wb") as f:
                pickle.dump((spec, None if bone_map is None else str(bone_map)), f)
            return _run_check(python, "mapping", str(job), "check the bone map", env)

    return _background(mapping_key(spec, bone_map), python, check, wait, env)


# --- the job ----------------------------------------------------------------------------------

STAGE_NAMES = {"cache: checking the joints cache": "reading the video",
               "2D keypoints": "decoding + 2D keypoints",
               "lifting": "lifting", "writing keys": "writing keys"}


def stage_label(stage: str) -> str:
    """The stage as the panel names it: decoding and 2D keypoints (one pass over the video),
    lifting, retargeting, writing keys."""
    if stage.startswith("retarget"):
        return "retargeting"
    return STAGE_NAMES.get(stage, stage)


@dataclass
class JobResult:
    """What a finished run gave: the figures the panel shows."""

    armature: str          # object name
    action: str
    frame_start: int
    frame_end: int
    fps: float
    seconds: float
    device: str            # the lifter's device, or "cached joints"
    cache_hit: bool
    report: str
    log_path: str

    @property
    def frames(self) -> int:
        return self.frame_end - self.frame_start + 1


class LiftJob:
    """One "Lift video to rig" run (see the module's docstring). ``armature``: the object to
    key (None: a new LiftRig skeleton); ``retarget_options``: a dict of RetargetOptions'
    fields."""

    def __init__(self, scene, source, *, armature=None, bone_map=None,
                 lift_options: LiftOptions = LiftOptions(), retarget_options=None,
                 worker_python: str, frame_start: int = 1, name: str | None = None,
                 log_path=None, cache_joints: bool = True, worker_env: dict | None = None):
        self.scene_name = scene.name
        self.source = Path(source)
        self.armature_name = None if armature is None else armature.name
        self._armature = armature
        self.bone_map = bone_map
        self.lift_options = lift_options
        self.retarget_options = dict(retarget_options or {})
        self.worker_python = worker_python
        self.worker_env = worker_env         # None: this process's environment
        self.frame_start = frame_start
        self.name = name or clip_name(source)
        self.log_path = Path(log_path) if log_path is not None else new_log_path(source)
        self.cache_joints = cache_joints
        self.state = "READY"
        self.stage, self.done, self.total = "starting the worker", 0, None
        self.stages: list[str] = []          # every raw stage reported, in order
        self.message = ""
        self.result: JobResult | None = None
        self._queue: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._device = ""

    # main thread
    def start(self) -> "LiftJob":
        """Read the target rig (main thread) and start the work in a thread."""
        from .animation import armature_spec

        if not self.source.is_file():
            raise LiftRigError(f"video not found: {self.source}")
        spec = None if self._armature is None else armature_spec(self._armature)
        self._armature = None                # no Blender data is held while the thread runs
        self._started = time.monotonic()
        self.state = RUNNING
        self._thread = threading.Thread(target=self._work, args=(spec,), daemon=True,
                                        name="liftrig-job")
        self._thread.start()
        return self

    # worker thread: no Blender data here
    def _work(self, spec) -> None:
        from ..pipeline.solve import solve_for_blender

        def progress(stage, done, total):
            self._queue.put(("progress", (stage, done, total)))

        try:
            motion = solve_for_blender(self.source, spec, self.bone_map, self.lift_options,
                                       self.retarget_options, self.worker_python, progress,
                                       log_path=self.log_path, cancel=self._cancel,
                                       cache_joints=self.cache_joints,
                                       worker_env=self.worker_env)
            self._queue.put(("motion", motion))
        except Cancelled:
            self._queue.put(("cancelled", None))
        except LiftRigError as exc:
            self._queue.put(("error", str(exc)))
        except BaseException as exc:  # a bug: say what it was, keep Blender running
            self._queue.put(("error", f"internal error: {type(exc).__name__}: {exc}"))

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    @property
    def fraction(self) -> float:
        """How far the current stage is, 0..1."""
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def seconds(self) -> float:
        return time.monotonic() - self._started if self._started else 0.0

    def status_text(self) -> str:
        """One line for the status bar and the panel."""
        if self.state == RUNNING:
            count = f" {self.done}/{self.total}" if self.total else ""
            unit = " frames" if self.stage in ("2D keypoints", "lifting") else ""
            return (f"LiftRig: {stage_label(self.stage)}{count}{unit}  ({self.seconds:.0f} s, "
                    "Esc to cancel)")
        return f"LiftRig: {self.message}" if self.message else f"LiftRig: {self.state.lower()}"

    def poll(self) -> str:
        """Main thread (the operator's timer): take the thread's news; write the keys when the
        motion is there. Returns the state: RUNNING, FINISHED, FAILED or CANCELLED."""
        if self.state != RUNNING:
            return self.state
        while True:
            try:
                kind, value = self._queue.get_nowait()
            except queue.Empty:
                return self.state
            if kind == "progress":
                self._at(*value)
            elif kind == "cancelled":
                return self._end(CANCELLED, "cancelled; the scene is as it was")
            elif kind == "error":
                return self._end(FAILED, f"{value} (worker log: {self.log_path})")
            elif kind == "motion":
                return self._apply(value)

    def _apply(self, motion) -> str:
        from .animation import apply_motion_by_name

        def progress(stage, done, total):
            if self._cancel.is_set():
                raise Cancelled()
            self._at(stage, done, total)

        try:
            applied = apply_motion_by_name(self.scene_name, motion, self.name, self.armature_name,
                                           self.frame_start, progress)
        except Cancelled:
            return self._end(CANCELLED, "cancelled; the scene is as it was")
        except LiftRigError as exc:
            return self._end(FAILED, str(exc))
        except Exception as exc:  # a bug; SceneGuard has undone the scene's changes
            return self._end(FAILED, f"internal error: {type(exc).__name__}: {exc}")
        self.result = JobResult(applied.armature.name, applied.action.name, applied.frame_start,
                                applied.frame_end, applied.fps, self.seconds,
                                motion.run.device or ("cached joints" if motion.run.cache_hit
                                                      else "-"),
                                motion.run.cache_hit, applied.report, str(self.log_path))
        frames = self.result.frames
        return self._end(FINISHED, f"{frames} frames keyed on {applied.armature.name!r} in "
                                   f"{self.result.seconds:.1f} s")

    def _at(self, stage: str, done: int, total) -> None:
        """The job is at ``stage`` (``done`` of ``total``); every new stage is recorded."""
        self.stage, self.done, self.total = stage, done, total
        if self.stages[-1:] != [stage]:
            self.stages.append(stage)

    def _end(self, state: str, message: str) -> str:
        self.state, self.message = state, message
        return state

    def cancel(self) -> None:
        """Stop now: the worker is killed (within a fraction of a second) and the result, if
        one was on its way, is dropped. The scene is not touched."""
        self._cancel.set()
        if self.state == RUNNING:
            self._end(CANCELLED, "cancelled; the scene is as it was")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread (and so the worker process) to end; True if it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def wait(self, timeout: float | None = None, interval: float = 0.05) -> str:
        """Poll until the job ends (blocking: for scripts, tests and execute())."""
        limit = None if timeout is None else time.monotonic() + timeout
        while self.poll() == RUNNING:
            if limit is not None and time.monotonic() > limit:
                self.cancel()
                self.join(5.0)
                return self._end(FAILED, f"stopped after {timeout:g} s")
            time.sleep(interval)
        return self.state
