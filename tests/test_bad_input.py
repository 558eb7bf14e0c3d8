# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input at the boundaries, through the real command line: one line on stderr, exit 2,
nothing written; and the edge cases that must simply work (a one-frame clip)."""

import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest

from liftrig.errors import LiftRigError
from liftrig.formats import Joints3D, Keypoints2D
from liftrig.retarget.bvh import read_bvh


# Runs a command with root's permission override dropped (as CI runs as root): file and folder
# permissions then apply to it as to an ordinary user.
NO_OVERRIDE = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def liftrig(*args, unprivileged: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m liftrig ARGS`` (``unprivileged``: without root's permission override)."""
    command = [sys.executable, "-m", "liftrig", *map(str, args)]
    if unprivileged and os.geteuid() == 0:
        command = NO_OVERRIDE + command
    return subprocess.run(command, capture_output=True, text=True)


def one_line_error(run: subprocess.CompletedProcess, *words: str) -> str:
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def joints_file(walk_joints_file):
    return walk_joints_file


def test_a_one_frame_clip_lifts_and_retargets(joints_file, tmp_path):
    kp = Keypoints2D.load(joints_file)
    one = tmp_path / "one.npz"
    Keypoints2D(keypoints=kp.keypoints[:1], scores=kp.scores[:1], valid=kp.valid[:1], fps=kp.fps,
                size=kp.size, frame_index=kp.frame_index[:1]).save(one)
    run = liftrig("lift", one, "-o", tmp_path / "one.bvh", "-q")
    assert run.returncode == 0, run.stderr
    assert read_bvh(tmp_path / "one.bvh").num_frames == 1
    run = liftrig("lift", one, "-o", tmp_path / "joints.npz", "-q")
    assert run.returncode == 0 and "1 frames" in run.stdout          # the summary, on stdout
    run = liftrig("retarget", tmp_path / "joints.npz", "-o", tmp_path / "r.bvh")
    assert run.returncode == 0, run.stderr
    assert read_bvh(tmp_path / "r.bvh").num_frames == 1


def test_joints_files_round_trip_and_name_what_is_missing(joints_file, tmp_path):
    clip = Joints3D.load(joints_file)
    again = tmp_path / "again.npz"
    clip.save(again)
    back = Joints3D.load(again)
    assert np.array_equal(back.joints, clip.joints) and back.joints.dtype == np.float32
    assert np.array_equal(back.keypoints.keypoints, clip.keypoints.keypoints)
    assert "joints3d" not in back.keypoints.extra             # the joints are the type's own
    only_2d = tmp_path / "kp.npz"
    clip.keypoints.save(only_2d)
    with pytest.raises(LiftRigError, match=r"kp.npz has 2D keypoints but no 3D joints yet: run "
                                           r"`liftrig lift .*kp.npz -o JOINTS.npz` first"):
        Joints3D.load(only_2d)
    run = liftrig("retarget", only_2d, "-o", tmp_path / "x.bvh")
    assert run.returncode == 2 and "no 3D joints yet" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "x.bvh").exists()
    with pytest.raises(LiftRigError, match=r"joints3d must have shape \[\d+, 17, 3\] to match "
                                           r"the keypoints, got \[3, 17, 3\]"):
        Joints3D(clip.keypoints, clip.joints[:3])


def test_retarget_never_changes_its_input(joints_file, tmp_path):
    before = joints_file.read_bytes()
    assert liftrig("retarget", joints_file, "-o", tmp_path / "x.bvh").returncode == 0
    assert joints_file.read_bytes() == before


def test_one_wild_frame_of_2d_does_not_poison_the_clip(joints_file, tmp_path):
    kp = Keypoints2D.load(joints_file)
    points = kp.keypoints.copy()
    points[20] = 1e30
    wild = tmp_path / "wild.npz"
    Keypoints2D(keypoints=points, scores=kp.scores, valid=kp.valid, fps=kp.fps, size=kp.size,
                frame_index=kp.frame_index).save(wild)
    assert liftrig("lift", wild, "-o", tmp_path / "j.npz", "-q").returncode == 0
    joints = Joints3D.load(tmp_path / "j.npz").joints
    assert np.isfinite(joints).all() and np.abs(joints).max() < 3


@pytest.mark.parametrize("field, value, words", [
    ("fps", np.float64(0), ["fps"]),
    ("fps", np.float64(np.nan), ["fps"]),
    ("fps", np.float64(np.inf), ["fps"]),
    ("fps", np.array("thirty"), ["fps"]),
    ("size", np.array([0, 1080]), ["width"]),
    ("size", np.array([1920]), ["size"]),
    ("frame_index", "times 1e9", ["frame_index"]),
    ("keypoints", np.array(["abc"] * 5), ["keypoints"]),
])
def test_a_broken_keypoints_file_is_one_line(joints_file, tmp_path, field, value, words):
    with np.load(joints_file) as data:
        arrays = {k: data[k] for k in data.files}
    arrays[field] = arrays[field] * 10**9 if isinstance(value, str) else value
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    for command in (["lift", broken, "-o", tmp_path / "out.npz"],
                    ["retarget", broken, "-o", tmp_path / "out.bvh"]):
        one_line_error(liftrig(*command), *words)
    assert not (tmp_path / "out.npz").exists() and not (tmp_path / "out.bvh").exists()


@pytest.mark.parametrize("args, words", [
    (["--smoothing", "5"], ["--smoothing", "0 to 1"]),
    (["--smoothing", "nan"], ["--smoothing"]),
    (["--focal-px", "-3"], ["--focal-px"]),
    (["--fov", "inf"], ["--fov"]),
])
def test_numbers_are_checked_before_the_work(joints_file, tmp_path, args, words):
    one_line_error(liftrig("retarget", joints_file, "-o", tmp_path / "x.bvh", *args), *words)
    assert not (tmp_path / "x.bvh").exists()


@pytest.mark.parametrize("args, words", [
    (["--fps", "0", "--size", "640x480"], ["--fps"]),
    (["--fps", "inf", "--size", "640x480"], ["--fps"]),
    (["--fps", "30", "--size", "0x480"], ["--size"]),
    (["--fps", "30", "--size", "640x480", "--max-people", "0"], ["--max-people"]),
    (["--fps", "30", "--size", "640x480", "--start", "-5"], ["--start"]),
])
def test_keypoints_numbers_are_checked(tmp_path, args, words):
    detections = tmp_path / "coco.json"
    detections.write_text("[]")
    one_line_error(liftrig("keypoints", "--from-json", detections, "-o", tmp_path / "kp.npz",
                           *args), *words)
    assert not (tmp_path / "kp.npz").exists()


def test_outputs_that_cannot_be_written_are_refused_before_the_work(joints_file, tmp_path):
    folder = tmp_path / "a-folder.bvh"
    folder.mkdir()
    one_line_error(liftrig("retarget", joints_file, "-o", folder), "is a folder")
    one_line_error(liftrig("lift", joints_file, "-o", "/proc/liftrig.npz"), "/proc")
    one_line_error(liftrig("retarget", joints_file, "-o", "/proc/self/x/y.bvh"), "cannot write")
    locked = tmp_path / "locked.bvh"
    locked.write_text("keep me")
    locked.chmod(0o444)
    one_line_error(liftrig("retarget", joints_file, "-o", locked), "read-only")
    assert locked.read_text() == "keep me"


def test_a_read_only_folder_as_an_ordinary_user(joints_file, tmp_path):
    """A folder without write permission refuses the output before any work, in one line (run
    without root's permission override, as an ordinary user would be)."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to drop root's permission override")
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        one_line_error(liftrig("retarget", joints_file, "-o", readonly / "x.bvh",
                               unprivileged=True), "does not take new files")
        one_line_error(liftrig("lift", joints_file, "-o", readonly / "sub" / "x.npz",
                               unprivileged=True), "does not take new files")
        assert list(readonly.iterdir()) == []
    finally:
        readonly.chmod(0o755)


def test_an_existing_output_keeps_its_permissions(joints_file, tmp_path):
    out = tmp_path / "walk.bvh"
    out.write_text("old")
    out.chmod(0o640)
    assert liftrig("retarget", joints_file, "-o", out).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and read_bvh(out).num_frames == 120


def test_ctrl_c_once_the_output_is_in_place_is_not_a_cancel(tmp_path):
    """After atomic_write has put the new file in place, the command line ignores Ctrl+C (the
    work is done; exit 130 would claim nothing was written)."""
    code = ("import os, signal, sys\n"
            "from liftrig import cli, fileio\n"
            "import liftrig.retarget.commands as commands\n"
            "def handler(args):\n"
            "    with fileio.atomic_write(sys.argv[1], 'w') as f:\n"
            "        f.write('done')\n"
            "    os.kill(os.getpid(), signal.SIGINT)  # Ctrl+C while the summary prints\n"
            "    return 0\n"
            "commands.run_retarget = handler\n"
            "sys.exit(cli.main(['retarget', 'x.npz', '-o', 'x.bvh']))\n")
    out = tmp_path / "out.txt"
    from conftest import ctrl_c_as_a_terminal_has_it

    run = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True,
                         cwd=tmp_path, preexec_fn=ctrl_c_as_a_terminal_has_it)
    assert out.read_text() == "done"
    assert run.returncode == 0, run.stderr


def test_the_doctor_does_not_call_a_truncated_pose_model_ok(tmp_path):
    from conftest import POSE_MODEL

    truncated = tmp_path / "cut.task"
    truncated.write_bytes(POSE_MODEL.read_bytes()[: len(POSE_MODEL.read_bytes()) // 2])
    run = subprocess.run([sys.executable, "-m", "liftrig", "doctor", "--json", "--pose-model",
                          str(truncated)], capture_output=True, text=True)
    import json

    report = json.loads(run.stdout)
    check = next(c for c in report["checks"] if c["name"] == "pose model")
    assert check["ok"] is False and "not a complete MediaPipe .task" in check["detail"]
    assert "download the model again from its source" in check["detail"]  # the user's own file
    good = json.loads(subprocess.run([sys.executable, "-m", "liftrig", "doctor", "--json",
                                      "--pose-model", str(POSE_MODEL)], capture_output=True,
                                     text=True).stdout)
    assert next(c for c in good["checks"] if c["name"] == "pose model")["ok"] is True
