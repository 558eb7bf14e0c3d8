# SPDX-License-Identifier: GPL-3.0-or-later
"""The headless batch command: a folder of clips converted one by one, bad clips reported
without stopping the others, a summary table, the exit code; a rig file that stays untouched;
the `-P` script and the registered `--command liftrig` in a fresh process."""

import hashlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from blender_helpers import WALK_FRAMES, preset_armature, save_walk_clip, tiny_lifter

bpy = pytest.importorskip("bpy")

from liftrig.addon import batch  # noqa: E402
from liftrig.errors import LiftRigError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clips(tmp_path_factory, bandai_walk, film):
    """A folder: a joints file, a keypoints-only file (lifted by a tiny model), a corrupt one."""
    folder = tmp_path_factory.mktemp("clips")
    save_walk_clip(folder / "a_walk.npz", bandai_walk, film, 30.0)
    save_walk_clip(folder / "b_keypoints.npz", bandai_walk, film, 25.0, joints=False)
    (folder / "c_broken.npz").write_bytes(b"not a zip file")
    weights = tiny_lifter(tmp_path_factory.mktemp("weights") / "tiny.safetensors")
    return folder, weights


def run_batch(*argv):
    out = io.StringIO()
    code = batch.run([str(a) for a in argv], stdout=out)
    return code, out.getvalue()


def test_folder_to_fbx_bad_clip_reported_others_converted(clips, tmp_path):
    folder, weights = clips
    code, text = run_batch(folder, "-o", tmp_path / "out", "--weights", weights, "--device",
                           "cpu")
    assert code == 1                                              # one clip failed
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_walk.fbx",
                                                                    "b_keypoints.fbx"]
    table = text[text.index("clip "):]
    rows = {line.split()[0]: line for line in table.splitlines()[2:5]}
    assert rows["a_walk.npz"].split()[1:4] == ["ok", str(WALK_FRAMES), "30"]
    assert rows["b_keypoints.npz"].split()[1:4] == ["ok", str(WALK_FRAMES), "25"]
    assert rows["c_broken.npz"].split()[1] == "FAILED" and "not a readable" in rows["c_broken.npz"]
    assert "2 of 3 clips converted, 1 failed" in table


def test_rig_blend_is_animated_saved_elsewhere_and_left_untouched(clips, tmp_path):
    folder, _ = clips
    bpy.ops.wm.read_factory_settings(use_empty=True)
    preset_armature(bpy.context.scene, "mixamo")
    bpy.data.meshes.new("body")                     # something else the file holds
    rig = tmp_path / "rig.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(rig))
    digest = hashlib.sha256(rig.read_bytes()).hexdigest()
    out = tmp_path / "walk.blend"
    code, text = run_batch(folder / "a_walk.npz", "-o", out, "--rig", rig, "--map", "mixamo",
                           "--empties", "--reference")
    assert code == 0, text
    assert hashlib.sha256(rig.read_bytes()).hexdigest() == digest
    bpy.ops.wm.open_mainfile(filepath=str(out))
    arm = bpy.data.objects["mixamo"]
    assert arm.animation_data.action.name == "a_walk"
    assert tuple(arm.animation_data.action.frame_range) == (1.0, float(WALK_FRAMES))
    assert (bpy.context.scene.frame_start, bpy.context.scene.frame_end) == (1, WALK_FRAMES)
    assert bpy.context.scene.camera.name == "a_walk camera" and "a_walk Pelvis" in bpy.data.objects


def test_rig_without_armature_and_bad_arguments_fail_clearly(clips, tmp_path):
    folder, _ = clips
    bpy.ops.wm.read_factory_settings(use_empty=True)
    empty = tmp_path / "empty.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(empty))
    code, text = run_batch(folder / "a_walk.npz", "-o", tmp_path / "x.bvh", "--rig", empty)
    assert code == 1 and "no armature" in text and not (tmp_path / "x.bvh").exists()
    code, _ = run_batch(folder / "a_walk.npz", folder / "c_broken.npz", "-o", tmp_path / "x.fbx")
    assert code == 2                                   # one file named for two clips
    code, _ = run_batch(folder / "a_walk.npz", "-o", tmp_path / "x.obj")
    assert code == 2


def test_script_and_registered_command_in_a_fresh_process(clips, tmp_path):
    folder, _ = clips
    out = tmp_path / "{name}.bvh"
    script = subprocess.run(
        [sys.executable, str(ROOT / "addon" / "batch_script.py"), "--",
         str(folder / "a_walk.npz"), str(tmp_path / "missing.mp4"), "-o", str(out)],
        capture_output=True, text=True, timeout=300)
    assert script.returncode == 1, script.stderr
    assert "input not found" in script.stdout and (tmp_path / "a_walk.bvh").is_file()
    from liftrig.retarget.bvh import read_bvh

    motion = read_bvh(tmp_path / "a_walk.bvh")
    assert motion.num_frames == WALK_FRAMES and np.isclose(motion.fps, 30.0)
    # The extension's register() adds `--command liftrig`; unregister() removes it.
    code = ("import bpy, liftrig; liftrig.register(); from liftrig import addon; "
            "h = addon._cli_handle; assert h is not None; liftrig.unregister(); "
            "assert addon._cli_handle is None; liftrig.register(); liftrig.unregister(); print('ok')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip().endswith("ok"), run.stderr


@pytest.mark.parametrize("suffix", [".fbx", ".bvh", ".blend"])
def test_liftrig_lift_writes_animation_files(clips, tmp_path, suffix):
    from liftrig.cli import main

    folder, weights = clips
    out = tmp_path / f"walk{suffix}"
    assert main(["lift", str(folder / "b_keypoints.npz"), "-o", str(out), "-q",
                 "--weights", str(weights), "--device", "cpu"]) == 0
    assert out.is_file() and out.stat().st_size > 1000


def test_liftrig_lift_to_fbx_without_bpy_says_what_to_do(clips, tmp_path, monkeypatch, capsys):
    from liftrig.cli import main

    folder, _ = clips
    monkeypatch.setitem(sys.modules, "bpy", None)          # as if bpy were not installed
    assert main(["lift", str(folder / "a_walk.npz"), "-o", str(tmp_path / "w.fbx"), "-q"]) == 2
    assert "install the bpy module" in capsys.readouterr().err
    assert not (tmp_path / "w.fbx").exists()


def test_worker_process_gives_the_same_result_and_a_crash_is_clean(clips, tmp_path):
    from blender_helpers import preset_armature, scene_state
    from liftrig.addon.animation import armature_spec, lift_to_scene
    from liftrig.options import LiftOptions
    from liftrig.pipeline.solve import solve_for_blender

    folder, weights = clips
    bpy.ops.wm.read_factory_settings(use_empty=True)
    spec = armature_spec(preset_armature(bpy.context.scene, "mixamo"))
    options = LiftOptions(weights=str(weights), device="cpu", precision="fp32")
    seen = []
    here = solve_for_blender(folder / "b_keypoints.npz", spec, None, options)
    there = solve_for_blender(folder / "b_keypoints.npz", spec, None, options,
                              worker_python=sys.executable,
                              progress=lambda stage, done, total: seen.append(stage))
    assert here.keyed == there.keyed and here.report == there.report
    np.testing.assert_array_equal(here.world_rotations, there.world_rotations)
    np.testing.assert_array_equal(here.location, there.location)
    assert "lifting" in seen and any(s.startswith("retarget") for s in seen)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    before = scene_state(bpy)
    crash = tmp_path / "crash.sh"
    crash.write_text("#!/bin/sh\necho 'Segmentation fault' >&2\nkill -SEGV $$\n")
    crash.chmod(0o755)
    with pytest.raises(LiftRigError, match="worker .* killed by signal 11.*Segmentation"):
        lift_to_scene(bpy.context.scene, folder / "b_keypoints.npz", lift_options=options,
                      worker_python=str(crash))
    # A worker's own error comes back as it is.
    with pytest.raises(LiftRigError, match="not a readable .npz"):
        lift_to_scene(bpy.context.scene, folder / "c_broken.npz", worker_python=sys.executable)
    assert scene_state(bpy) == before


def test_cancel_stops_the_worker(clips):
    from liftrig.errors import Cancelled
    from liftrig.options import LiftOptions
    from liftrig.pipeline.solve import solve_for_blender

    folder, weights = clips

    def cancel(stage, done, total):
        raise Cancelled()

    with pytest.raises(Cancelled):
        solve_for_blender(folder / "b_keypoints.npz", options=LiftOptions(weights=str(weights)),
                          worker_python=sys.executable, progress=cancel)


def test_blender_side_needs_no_scipy_or_torch(clips, tmp_path):
    """Blender's own Python has numpy but no scipy, torch or mediapipe: the Blender side
    (animation, keys, export, batch) must run there with the solve in a worker."""
    folder, weights = clips
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('scipy', 'torch', 'mediapipe', 'cv2'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
from liftrig.addon.batch import run
code = run([{str(folder / 'b_keypoints.npz')!r}, '-o', {str(tmp_path / 'w.fbx')!r},
            '--weights', {str(weights)!r}, '--worker-python', {sys.executable!r}, '-q'])
assert not [m for m in sys.modules if m.split('.')[0] in ('scipy', 'torch')]
sys.exit(code)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert (tmp_path / "w.fbx").is_file()


@pytest.mark.slow
def test_real_video_and_a_video_with_nobody_in_it(clips, tmp_path):
    """MediaPipe on real footage (30 frames) and on an empty grey clip, in one batch."""
    import cv2

    from conftest import POSE_MODEL, VIDEOS, shared_path

    _, weights = clips
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "outdoor.mp4").symlink_to(shared_path("videos", VIDEOS["outdoor"].name))
    writer = cv2.VideoWriter(str(videos / "nobody.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25,
                             (320, 240))
    for _ in range(20):
        writer.write(np.full((240, 320, 3), 90, np.uint8))
    writer.release()
    code, text = run_batch(videos, "-o", tmp_path / "out", "--format", "blend", "--end", "30",
                           "--reference",
                           "--pose-model", shared_path("models", POSE_MODEL.name),
                           "--weights", weights, "--device", "cpu")
    assert code == 1
    rows = {line.split()[0]: line for line in text[text.index("clip "):].splitlines()[2:4]}
    assert rows["outdoor.mp4"].split()[1:4] == ["ok", "30", "30"]
    assert "FAILED" in rows["nobody.mp4"] and "No person was detected" in rows["nobody.mp4"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["outdoor.blend"]
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / "outdoor.blend"))
    background = bpy.context.scene.camera.data.background_images[0]
    assert Path(background.clip.filepath).name == "outdoor.mp4"
