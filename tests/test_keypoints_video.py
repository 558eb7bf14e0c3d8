# SPDX-License-Identifier: GPL-3.0-or-later
"""The 2D stage end to end: real footage, the real MediaPipe model, the real command line."""

import logging
import subprocess
import sys
import tracemalloc

import cv2
import numpy as np
import pytest

from liftrig.formats import Keypoints2D
from liftrig.detect.keypoints import extract_keypoints
from liftrig.detect.tracking import body_height
from liftrig.detect.video import iter_frames, probe_video

from conftest import POSE_MODEL, VIDEOS, ctrl_c_as_a_terminal_has_it

pytestmark = pytest.mark.slow

EXPECTED = {"outdoor": (230, 30.0, (1768, 994)), "lab": (100, 60.0, (1088, 1920))}


@pytest.fixture(scope="module")
def outdoor(request):
    with _capture_warnings() as warnings:
        kp = extract_keypoints(VIDEOS["outdoor"], pose_model=POSE_MODEL)
    kp.warnings = warnings
    return kp


@pytest.fixture(scope="module")
def lab():
    return extract_keypoints(VIDEOS["lab"], pose_model=POSE_MODEL)


class _capture_warnings:
    """Collect the messages logged on the 'liftrig' logger (module-scoped, unlike caplog)."""

    def __enter__(self):
        self.records = []
        self.handler = logging.Handler()
        self.handler.emit = lambda record: self.records.append(record.getMessage())
        logging.getLogger("liftrig").addHandler(self.handler)
        return self.records

    def __exit__(self, *exc):
        logging.getLogger("liftrig").removeHandler(self.handler)


def _largest_pelvis_jump(kp: Keypoints2D) -> float:
    """Largest pelvis move between two consecutive detected frames, in body heights."""
    both = kp.valid[1:] & kp.valid[:-1]
    jumps = np.linalg.norm(np.diff(kp.keypoints[:, 0], axis=0), axis=-1)[both]
    height = np.median([body_height(p, s) for p, s in zip(kp.keypoints[kp.valid],
                                                          kp.scores[kp.valid])])
    return float(jumps.max() / height)


@pytest.mark.parametrize("clip", ["outdoor", "lab"])
def test_fields_shapes_and_ranges(clip, request):
    kp = request.getfixturevalue(clip)
    frames, fps, size = EXPECTED[clip]
    assert kp.num_frames == frames and kp.fps == pytest.approx(fps) and kp.size == size
    assert kp.keypoints.shape == (frames, 17, 2) and kp.keypoints.dtype == np.float32
    assert kp.scores.shape == (frames, 17) and 0 <= kp.scores.min() and kp.scores.max() <= 1
    assert kp.landmarks.shape == (frames, 33, 4) and kp.world_landmarks.shape == (frames, 33, 3)
    assert np.array_equal(kp.frame_index, np.arange(frames))
    assert np.isfinite(kp.keypoints).all()
    assert (kp.scores[~kp.valid] == 0).all()
    # Detected keypoints lie in (or just outside) the picture.
    inside = kp.keypoints[kp.valid]
    assert (inside[..., 0] > -0.2 * size[0]).all() and (inside[..., 0] < 1.2 * size[0]).all()
    # The pelvis is the mid-hip and the thorax the mid-shoulder landmark of MediaPipe.
    marks = kp.landmarks[kp.valid]
    np.testing.assert_allclose(inside[:, 0], marks[:, [23, 24], :2].mean(1), atol=1e-3)
    np.testing.assert_allclose(inside[:, 8], marks[:, [11, 12], :2].mean(1), atol=1e-3)
    # Head top above the nose, feet below the hips (image y grows downwards) for an upright
    # person: true in most frames (the outdoor subject does a back flip).
    upright = (inside[:, 10, 1] < inside[:, 9, 1]) & (inside[:, 3, 1] > inside[:, 1, 1])
    assert upright.mean() > 0.85


@pytest.mark.parametrize("clip", ["outdoor", "lab"])
def test_no_identity_switch(clip, request):
    """Between consecutive detected frames the pelvis never jumps half a body height."""
    assert _largest_pelvis_jump(request.getfixturevalue(clip)) < 0.5


def test_outdoor_follows_the_man_from_the_wall(outdoor):
    """He stands on the wall, flips off it behind the box (out of sight for about a second) and
    runs off to the right, while a woman walks left below the wall."""
    pelvis = outdoor.keypoints[:, 0]
    assert outdoor.valid[10:160].all()
    assert (pelvis[10:160, 1] < 400).all()            # on the wall, not the woman on the grass
    assert not outdoor.valid[175:195].any()           # hidden behind the box
    later = np.flatnonzero(outdoor.valid[195:]) + 195
    assert len(later) > 20 and (pelvis[later, 0] > 1000).all()  # picked up again, on the right
    assert any("missing from frame" in w for w in outdoor.warnings)  # the long gap is reported


def test_lab_auto_and_chosen_person(lab):
    """Auto takes the most prominent person (the woman in front); --person 0 the leftmost (the man)."""
    assert lab.valid.all() and (lab.keypoints[:, 0, 1] > 1100).all()
    man = extract_keypoints(VIDEOS["lab"], pose_model=POSE_MODEL, person=0, end=40)
    assert man.num_frames == 40
    assert (man.keypoints[man.valid, 0, 1] < 1000).all() and man.valid[15:].all()
    assert _largest_pelvis_jump(man) < 0.5


def test_cli_writes_the_file_with_a_frame_range(tmp_path):
    out = tmp_path / "kp.npz"
    run = subprocess.run(
        [sys.executable, "-m", "liftrig", "keypoints", str(VIDEOS["lab"]), "-o", str(out),
         "--pose-model", str(POSE_MODEL), "--start", "20", "--end", "50"],
        capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    kp = Keypoints2D.load(out)
    assert np.array_equal(kp.frame_index, np.arange(20, 50)) and kp.fps == 60
    assert list(tmp_path.iterdir()) == [out]
    assert "Traceback" not in run.stderr


def test_decoding_streams_in_constant_memory():
    """Decoding the whole outdoor clip (about 1.2 GB of RGB frames) holds only a few frames."""
    info = probe_video(VIDEOS["outdoor"])
    frame_bytes = info.width * info.height * 3
    tracemalloc.start()
    count = 0
    try:
        for frame in iter_frames(VIDEOS["outdoor"]):
            count += 1
            assert frame.rgb.shape == (info.height, info.width, 3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 230
    assert peak < 12 * frame_bytes, f"peak {peak / 1e6:.0f} MB"


def test_timestamps_are_real_and_increasing():
    stamps = [f.timestamp_ms for f in iter_frames(VIDEOS["lab"], end=10)]
    assert stamps == [round(i * 1000 / 60) for i in range(10)]


# --- bad input: one line naming the problem, exit code 2, no output file ---------------------

def _write_video(path, frames, fourcc="MJPG", fps=30):
    h, w = frames[0].shape[:2] if frames else (48, 64)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def _garbled_frames(path):
    """The lab clip with its frame data overwritten: the container opens, no frame decodes."""
    data = bytearray(VIDEOS["lab"].read_bytes())
    start = data.find(b"mdat") + 8
    data[start:start + len(data) // 2] = np.random.default_rng(0).integers(
        0, 256, len(data) // 2, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def _corrupt_model(path):
    path.write_bytes(POSE_MODEL.read_bytes()[:5000])
    return path


def _garbage_bundle(path):
    """A well-formed zip whose models are noise: only MediaPipe itself can tell."""
    import zipfile

    with zipfile.ZipFile(path, "w") as bundle:
        for name in ("pose_detector.tflite", "pose_landmarks_detector.tflite"):
            bundle.writestr(name, np.random.default_rng(0).bytes(4096))
    return path


BAD_INPUTS = {
    "missing file": (lambda d: d / "nowhere.mp4", None, "not found"),
    "not a video": (lambda d: (d / "notes.mp4").write_text("hello") and d / "notes.mp4", None,
                    "not a video"),
    "zero frames": (lambda d: _write_video(d / "empty.avi", []), None, "no frames"),
    "unreadable codec": (lambda d: _garbled_frames(d / "garbled.mp4"), None, "cannot decode"),
    "nobody in it": (lambda d: _write_video(d / "wall.avi", [np.full((120, 160, 3), 90 + i, np.uint8)
                                                           for i in range(15)]),
                     None, "No person was detected"),
    "truncated model": (lambda d: VIDEOS["lab"], _corrupt_model,
                        "not a complete MediaPipe .task file"),
    "corrupt model": (lambda d: VIDEOS["lab"], _garbage_bundle, "not a valid MediaPipe"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_one_clear_line(case, tmp_path):
    make_video, make_model, message = BAD_INPUTS[case]
    video = make_video(tmp_path)
    model = make_model(tmp_path / "bad.task") if make_model else POSE_MODEL
    out = tmp_path / "out" / "kp.npz"
    run = subprocess.run([sys.executable, "-m", "liftrig", "keypoints", str(video), "-o", str(out),
                          "--pose-model", str(model), "--end", "10", "--no-progress"],
                         capture_output=True, text=True)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], run.stderr
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


def test_ctrl_c_stops_quickly_and_writes_nothing(tmp_path):
    import signal
    import time

    out = tmp_path / "kp.npz"
    proc = subprocess.Popen([sys.executable, "-m", "liftrig", "keypoints", str(VIDEOS["outdoor"]),
                             "-o", str(out), "--pose-model", str(POSE_MODEL)],
                            stderr=subprocess.PIPE, preexec_fn=ctrl_c_as_a_terminal_has_it)
    seen, deadline = b"", time.monotonic() + 300
    while b"2D keypoints:" not in seen and time.monotonic() < deadline:  # the progress bar
        chunk = proc.stderr.read1(256)
        if not chunk:
            break
        seen += chunk
    assert b"2D keypoints:" in seen, seen.decode(errors="replace")
    proc.send_signal(signal.SIGINT)
    err = seen + proc.communicate(timeout=60)[1]
    assert proc.returncode == 130 and b"cancelled" in err
    assert list(tmp_path.iterdir()) == []


def test_a_real_run_prints_no_native_log_lines(tmp_path):
    """MediaPipe's C++ side (TFLite, absl, glog: ``INFO: [accelerator_registry.cc:43] ...``)
    never reaches the terminal: a whole successful run prints only LiftRig's own summary."""
    out = tmp_path / "kp.npz"
    run = subprocess.run([sys.executable, "-m", "liftrig", "keypoints", str(VIDEOS["lab"]),
                          "-o", str(out), "--pose-model", str(POSE_MODEL), "--end", "20",
                          "--no-progress"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    native = [line for line in (run.stdout + run.stderr).splitlines()
              if line.startswith(("INFO:", "WARNING:", "ERROR:", "I0", "W0", "E0"))
              or ".cc:" in line]
    assert native == [], run.stderr
    assert out.is_file()


def test_native_stderr_is_captured_and_attached_to_a_failure():
    import os

    from liftrig.detect.pose2d import NativeStderr

    capture = NativeStderr()
    read, write = os.pipe()
    saved = os.dup(2)
    os.dup2(write, 2)  # stand in for the terminal
    try:
        with capture:
            os.write(2, b"INFO: [native.cc:1] quiet\n")
        with pytest.raises(RuntimeError) as failure:
            with capture:
                os.write(2, b"E0000 native.cc:2] the reason\n")
                raise RuntimeError("graph failed")
        os.write(2, b"after\n")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(write)
        capture.close()
    reached_terminal = os.read(read, 4096).decode()
    os.close(read)
    assert reached_terminal == "after\n"
    assert "the reason" in "\n".join(failure.value.__notes__)
    assert "quiet" not in "\n".join(failure.value.__notes__)


def test_a_video_cut_short_is_reported(tmp_path):
    """A real clip cut to 30 % of its bytes decodes only its first frames: the run says so
    (one warning naming the file and the frames) and keeps the frames that decode."""
    data = VIDEOS["outdoor"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(0.3 * len(data))])
    with _capture_warnings() as warnings:
        frames = sum(1 for _ in iter_frames(cut))
    info = probe_video(cut)
    assert 0 < frames < 0.9 * info.frame_count
    assert any("cut.mp4" in w and "cut short" in w for w in warnings), warnings
    with _capture_warnings() as warnings:
        assert sum(1 for _ in iter_frames(VIDEOS["lab"])) == 100
    assert not warnings
