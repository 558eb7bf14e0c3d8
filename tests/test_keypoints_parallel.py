# SPDX-License-Identifier: GPL-3.0-or-later
"""``--jobs N``: the 2D stage in several processes, on real footage with the real model.

The shared clips are short, so the tests lower the chunk size that the default keeps for
clips of 10 s and more (a worker costs about a second to start)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from liftrig.errors import Cancelled, LiftRigError
from liftrig.detect import chunks
from liftrig.detect.chunks import detect_in_chunks, frames_agree, plan_chunks
from liftrig.detect.keypoints import extract_keypoints
from liftrig.detect.pose2d import PoseDetector, people_to_array
from liftrig.detect.video import iter_frames, probe_video

from conftest import POSE_MODEL, VIDEOS, ctrl_c_as_a_terminal_has_it

pytestmark = pytest.mark.slow


def _worker_pids() -> list[int]:
    """The chunk workers alive now (children of this test process)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"liftrig.detect.chunk_worker" in command and state != "Z":
            pids.append(int(entry.name))
    return pids


def _single_process(video) -> dict[int, np.ndarray]:
    """Every frame's people as one landmarker in one process finds them."""
    out = {}
    with PoseDetector(Path(POSE_MODEL), max_people=2) as detector:
        for frame in iter_frames(video):
            out[frame.index] = people_to_array(detector.detect(frame.rgb, frame.timestamp_ms))
    return out


@pytest.fixture(scope="module")
def single():
    return {name: _single_process(VIDEOS[name]) for name in ("outdoor", "lab")}


def test_chunks_cover_the_range_and_short_clips_get_one():
    assert plan_chunks(0, 100, 8) == [(0, 100)]                  # 3 s at 30 fps: one process
    assert plan_chunks(0, 299, 2) == [(0, 299)]
    parts = plan_chunks(10, 18_010, 16)
    assert len(parts) == 16 and parts[0][0] == 10 and parts[-1][1] == 18_010
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    assert max(b - a for a, b in parts) - min(b - a for a, b in parts) <= 1
    assert len(plan_chunks(0, 450, 16)) == 3                      # no chunk under 150 frames


@pytest.mark.parametrize("name", ["outdoor", "lab"])
def test_a_chunk_decodes_the_frames_a_whole_pass_does(name):
    """Each worker seeks to its first frame: the frames there must be the same pixels."""
    whole = {f.index: f for f in iter_frames(VIDEOS[name]) if f.index in (36, 37, 71, 72)}
    for first in (36, 71):
        got = [f for _, f in zip(range(2), iter_frames(VIDEOS[name], first))]
        for frame in got:
            assert np.array_equal(frame.rgb, whole[frame.index].rgb), (name, frame.index)
            assert frame.timestamp_ms == whole[frame.index].timestamp_ms


@pytest.mark.parametrize("name", ["outdoor", "lab"])
def test_seams_stay_within_two_percent_of_one_process(name, single):
    """The output is one process's up to the first seam; at every seam it passes to a worker
    that agrees with it, so keypoints move by under 2 % of the body height there."""
    info = probe_video(VIDEOS[name])
    parts = plan_chunks(0, info.frame_count, 3, min_frames=30)
    found = detect_in_chunks(VIDEOS[name], POSE_MODEL, 2, parts, None, info.fps)
    assert found.indices == list(range(info.frame_count))
    assert found.seams, "the workers never handed over: every frame came from the first one"
    first = found.seams[0]
    for f in range(first):
        assert np.array_equal(found.people[f], single[name][f]), f
    for seam in found.seams:
        before, after = found.people[seam - 1], found.people[seam]
        # the worker handed over to agrees with the one before it at the seam
        assert len(before) == len(after)
    for f in range(first, first + chunks.AGREE_FRAMES):
        assert frames_agree(found.people[f], single[name][f], tolerance=0.02), f


def test_the_keypoints_file_is_the_one_process_file(single):
    """Same frames, same subject, same detections; keypoints of the subject within 2 % of
    the body height over the first seam."""
    video = VIDEOS["outdoor"]
    one = extract_keypoints(video, pose_model=POSE_MODEL, jobs=1)
    old = chunks.MIN_CHUNK_FRAMES
    chunks.MIN_CHUNK_FRAMES = 60
    try:
        many = extract_keypoints(video, pose_model=POSE_MODEL, jobs=3)
    finally:
        chunks.MIN_CHUNK_FRAMES = old
    assert np.array_equal(many.frame_index, one.frame_index)
    assert np.array_equal(many.valid, one.valid)
    height = np.median(np.ptp(one.keypoints[one.valid][:, :, 1], axis=1))
    error = np.linalg.norm(many.keypoints - one.keypoints, axis=-1).max(axis=1) / height
    assert np.percentile(error[one.valid], 95) < 0.02, np.percentile(error[one.valid], 95)
    assert many.world_landmarks is not None and many.landmarks.shape == one.landmarks.shape


def test_cancel_stops_every_worker_at_once():
    info = probe_video(VIDEOS["outdoor"])
    parts = plan_chunks(0, info.frame_count, 2, min_frames=30)
    seen = {}

    def progress(stage, done, total):
        if done >= 20:
            seen["workers"] = len(_worker_pids())
            raise Cancelled()

    with pytest.raises(Cancelled):
        detect_in_chunks(VIDEOS["outdoor"], POSE_MODEL, 2, parts, None, info.fps, progress)
    assert seen["workers"] == 2
    assert _worker_pids() == []


def test_a_worker_that_dies_is_an_error_naming_its_chunk():
    info = probe_video(VIDEOS["outdoor"])
    parts = plan_chunks(0, info.frame_count, 2, min_frames=30)
    killed = []

    def progress(stage, done, total):
        if done >= 10 and not killed:
            for pid in _worker_pids():
                if f"\0{parts[1][0] - 15}\0".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

    with pytest.raises(LiftRigError, match=r"2D worker for frames 115-229 \(chunk 2 of 2\) "
                                           r"was killed by signal 9"):
        detect_in_chunks(VIDEOS["outdoor"], POSE_MODEL, 2, parts, None, info.fps, progress)
    assert killed and _worker_pids() == []


def test_ctrl_c_on_the_command_line_stops_the_workers_and_writes_nothing(tmp_path):
    out = tmp_path / "kp.npz"
    env = {**os.environ, "LIFTRIG_POSE_MODEL": POSE_MODEL}
    code = ("import sys; from liftrig.detect import chunks; chunks.MIN_CHUNK_FRAMES = 30; "
            "from liftrig.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, "keypoints", str(VIDEOS["outdoor"]),
                             "-o", str(out), "--jobs", "2"], stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True,
                            preexec_fn=ctrl_c_as_a_terminal_has_it)
    deadline = time.monotonic() + 60
    while len(_grandchildren(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = _grandchildren(proc.pid)
    assert len(workers) == 2
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGINT)      # what a terminal's Ctrl+C does
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()
                and (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z")]


def _grandchildren(pid: int) -> list[int]:
    out = []
    for worker in _worker_pids():
        try:
            stat = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == pid:
            out.append(worker)
    return out
