# SPDX-License-Identifier: GPL-3.0-or-later
"""`liftrig retarget`: a joints file in (only read), a BVH out, `world` on request; user mistakes
-> one line."""

import json

import numpy as np
import pytest

from liftrig.cli import main
from liftrig.formats import Joints3D, Keypoints2D
from liftrig.h36m import JOINT_NAMES
from liftrig.retarget.presets import BUILTIN_BONES
from liftrig.retarget.bvh import forward_kinematics, read_bvh
from liftrig.retarget.export import Z_UP_TO_Y_UP


@pytest.fixture(scope="module")
def joints_file(walk_joints_file):
    return walk_joints_file


def test_retarget_writes_bvh_and_world(joints_file, tmp_path, capsys):
    out, with_world = tmp_path / "walk.bvh", tmp_path / "walk-world.npz"
    before = joints_file.read_bytes()
    assert main(["retarget", str(joints_file), "-o", str(out), "--smoothing", "0.3",
                 "--world-out", str(with_world)]) == 0
    assert joints_file.read_bytes() == before                     # the input is never changed
    kp = Keypoints2D.load(with_world)
    world = kp.extra["world"]
    assert world.dtype == np.float32 and world.shape == (kp.num_frames, 17, 3)
    assert "joints3d" in kp.extra                                 # the lifter's field is kept
    motion = read_bvh(out)
    assert sorted(motion.skeleton.names) == sorted(BUILTIN_BONES)
    assert motion.num_frames == kp.num_frames
    assert motion.frame_time == pytest.approx(1 / kp.fps, rel=1e-6)
    # LiftRig's BVH (cm, Y up) gives back the world points by forward kinematics.
    fk = forward_kinematics(motion, 0.01).positions @ Z_UP_TO_Y_UP
    joints = [motion.skeleton.names.index(n) for n in JOINT_NAMES]   # each point's own bone
    assert np.abs(fk[:, joints] - world).max() < 1e-4
    assert "foot skating" in capsys.readouterr().out              # the summary, on stdout


def test_presets_in_place_and_channel_order(joints_file, tmp_path):
    out = tmp_path / "mixamo.bvh"
    assert main(["retarget", str(joints_file), "-o", str(out), "--rig", "mixamo",
                 "--root-motion", "off", "--foot-lock", "off", "--channel-order", "xyz",
                 "--units", "m"]) == 0
    motion = read_bvh(out)
    assert motion.skeleton.names[0] == "mixamorig:Hips"
    assert motion.skeleton.channels[0] == ("Xposition", "Yposition", "Zposition",
                                           "Xrotation", "Yrotation", "Zrotation")
    hips = motion.values[:, [0, 2]]                               # BVH x and z: the floor plane
    assert np.abs(hips).max() < 0.2                               # metres: stays in place


def test_json_rig(joints_file, tmp_path):
    from liftrig.retarget.presets import preset

    bound = preset("ue5")
    rig = bound.rig
    spec = bound.bone_map.to_dict()
    spec["skeleton"] = {b: {"parent": rig.bone_names[p] if p >= 0 else None,
                            "head": rig.rest_heads[i].tolist(), "tail": rig.rest_tails[i].tolist()}
                        for i, (b, p) in enumerate(zip(rig.bone_names, rig.parents))}
    path = tmp_path / "ue5-like.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "ue5.bvh"
    assert main(["retarget", str(joints_file), "-o", str(out), "--rig", str(path)]) == 0
    assert read_bvh(out).skeleton.names == rig.bone_names


@pytest.mark.parametrize("args, message", [
    (["--rig", "daz"], "--rig 'daz'"),
    (["--rig", "missing.json"], "bone map not found"),
    (["--smoothing", "-1"], "--smoothing"),
    (["--smoothing", "5"], "--smoothing"),
    (["--focal-px", "0"], "--focal-px"),
    (["--focal-px", "inf"], "--focal-px"),
    (["--fov", "nan"], "--fov"),
    (["--world-out", "same"], "never changes its input"),
    (["--channel-order", "XXY"], "channel order"),
])
def test_user_mistakes_are_one_line(joints_file, tmp_path, capsys, args, message):
    out = tmp_path / "x.bvh"
    args = [str(joints_file) if a == "same" else a for a in args]
    assert main(["retarget", str(joints_file), "-o", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("liftrig retarget: error:")
    assert not out.exists()


def test_missing_joints_in_some_frames_are_filled(joints_file, tmp_path):
    clip = Joints3D.load(joints_file)
    joints = clip.joints.copy()
    joints[10:13, 6] = np.nan
    holey = tmp_path / "holey.npz"
    Joints3D(clip.keypoints, joints).save(holey)
    assert main(["retarget", str(holey), "-o", str(tmp_path / "x.bvh"),
                 "--world-out", str(tmp_path / "w.npz")]) == 0
    assert np.isfinite(Keypoints2D.load(tmp_path / "w.npz").extra["world"]).all()


def test_files_without_joints_or_bad_output_are_refused(tmp_path, capsys):
    kp = Keypoints2D(keypoints=np.zeros((5, 17, 2)), scores=np.ones((5, 17)),
                     valid=np.ones(5, bool), fps=30, size=(640, 480), frame_index=np.arange(5))
    path = tmp_path / "kp.npz"
    kp.save(path)
    assert main(["retarget", str(path), "-o", str(tmp_path / "x.bvh")]) == 2
    assert "liftrig lift" in capsys.readouterr().err
    assert main(["retarget", str(path), "-o", str(tmp_path / "x.fbx")]) == 2
    assert "OUT.bvh" in capsys.readouterr().err
