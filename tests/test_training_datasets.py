# SPDX-License-Identifier: GPL-3.0-or-later
"""MPI-INF-3DHP and HumanEva-I: tiny datasets in the exact preprocessed npz layouts, built here from
random walks; loading, validation, training, and the papers' tables."""

import numpy as np
import pytest
from training_helpers import write_recipe

from liftrig.cli import main
from liftrig.errors import LiftRigError
from liftrig.h36m import normalize_screen
from liftrig.training import metrics
from liftrig.training.config import load_config
from liftrig.training.data import humaneva, mpi3dhp
from liftrig.training.data.windows import WindowDataset, mirror
from liftrig.training.loop import train

# --- builders: the files exactly as the preparation scripts write them ---------------------------


def walk(frames, joints, rng, centre, up=2, size=0.35, step=0.01):
    """Positions [frames, joints, 3] of a body-sized point cloud (tall along axis ``up``) wandering
    around ``centre``."""
    template = np.random.default_rng(joints).uniform(-size, size, (joints, 3))  # one body shape
    template[:, up] *= 2.5
    template += rng.normal(scale=0.03, size=(joints, 3))  # a little different in every take
    wiggle = rng.normal(scale=step, size=(frames, joints, 3)).cumsum(axis=0)
    drift = rng.normal(scale=2 * step, size=(frames, 1, 3)).cumsum(axis=0)
    return np.asarray(centre) + template + wiggle + drift


def pinhole(cam_points, focal, centre):
    return cam_points[..., :2] / cam_points[..., 2:3] * focal + np.asarray(centre)


HE_ACTIONS = ("Walking 1 chunk0", "Jog 1 chunk0", "Box 1 chunk0", "Gestures 1 chunk0")


def make_humaneva(root, subjects=humaneva.TRAIN_SUBJECTS + humaneva.TEST_SUBJECTS,
                  actions=HE_ACTIONS, frames=60, seed=0, extra_2d=3):
    """``data_3d_humaneva15.npz`` (world metres) and ``data_2d_humaneva15_gt.npz`` (3 cameras,
    640 x 480 pixels, a few frames longer than the 3D)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    pos3d, pos2d = {}, {}
    for subject in subjects:
        pos3d[subject], pos2d[subject] = {}, {}
        for action in actions:
            world = walk(frames + extra_2d, 15, rng, (0.0, 0.0, 1.0))
            pos3d[subject][action] = world[:frames].astype(np.float32)
            pos2d[subject][action] = [
                pinhole(humaneva._camera_space(world, subject, c), 765.0, (320, 240)).astype(np.float32)
                for c in range(3)]
    meta = {"layout_name": "humaneva15", "num_joints": 15,
            "keypoints_symmetry": [[2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]]}
    np.savez_compressed(root / "data_3d_humaneva15.npz", positions_3d=pos3d)
    np.savez_compressed(root / "data_2d_humaneva15_gt.npz", positions_2d=pos2d, metadata=meta)
    return root


def make_3dhp(root, train_subjects=("S1", "S2"), test=("TS1", "TS5"), frames=60, seed=0):
    """P-STMO's ``data_train_3dhp.npz`` and ``data_test_3dhp.npz`` (3DHP joint order, mm)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)

    def poses(size):
        cam = walk(frames, 17, rng, (0.0, 0.0, 4.0), up=1) * 1000.0  # mm, camera axes (y down)
        w, h = size
        return {"data_2d": pinhole(cam, 1500.0, (w / 2, h / 2)).astype(np.float32),
                "data_3d": cam.astype(np.float32)}

    train = {f"{s} Seq{q}": [{c: poses((2048, 2048)) for c in (0, 2)}]
             for s in train_subjects for q in (1, 2)}
    tests = {}
    for name in test:
        entry = poses(mpi3dhp.TEST_RESOLUTION[name])
        valid = np.ones(frames, np.float32)
        valid[:5] = 0  # the first frames are not annotated
        tests[name] = {**entry, "valid": valid, "activity": np.ones(frames)}
    np.savez_compressed(root / "data_train_3dhp.npz", data=train)
    np.savez_compressed(root / "data_test_3dhp.npz", data=tests)
    return root


def rewrite(path, key, change):
    """Load the npz at ``path``, apply ``change`` to its pickled dict under ``key``, save."""
    with np.load(path, allow_pickle=True) as f:
        entries = {k: f[k] for k in f.files}
    value = entries[key].item() if entries[key].dtype == object else entries[key]
    result = change(value)
    if result is None:
        entries.pop(key)
    else:
        entries[key] = result
    np.savez(path, **entries)


# --- loading ---------------------------------------------------------------------------------


def test_humaneva_goes_to_camera_space_keeps_the_protocol_actions(tmp_path):
    root = make_humaneva(tmp_path)
    seqs = humaneva.load_humaneva(root, "gt", ["Validate/S2"], ["Walk", "Jog", "Box"])
    assert len(seqs) == 3 * 3 and {s.camera for s in seqs} == {0, 1, 2}
    assert {s.group for s in seqs} == {"Walk S2", "Jog S2", "Box S2"}  # no Gestures
    raw3d = np.load(root / "data_3d_humaneva15.npz", allow_pickle=True)["positions_3d"].item()
    raw2d = np.load(root / "data_2d_humaneva15_gt.npz", allow_pickle=True)["positions_2d"].item()
    seq = next(s for s in seqs if s.action == "Jog 1 chunk0" and s.camera == 2)
    assert len(seq) == 60 and len(raw2d["Validate/S2"]["Jog 1 chunk0"][2]) == 63  # cropped
    assert np.allclose(seq.pose2d, normalize_screen(raw2d["Validate/S2"]["Jog 1 chunk0"][2][:60],
                                                    (640, 480)), atol=1e-6)
    # Back to the world with the camera: the root-relative skeleton of the file.
    world = raw3d["Validate/S2"]["Jog 1 chunk0"].astype(np.float64)
    back = humaneva.camera_to_world(seq.pose3d, "Validate/S2", 2)
    back_root = humaneva.camera_to_world(np.zeros(3), "Validate/S2", 2)
    assert np.allclose(back - back_root, world - world[:, :1], atol=1e-5)
    assert np.all(seq.pose3d[:, 0] == 0)
    assert len(humaneva.load_humaneva(root, "gt", ["Train/S1"])) == 4 * 3  # no filter: all


def test_humaneva_cameras_look_at_the_capture_area():
    for subject in humaneva.EXTRINSICS:
        for cam in range(3):
            p = humaneva._camera_space(np.array([0.0, 0.0, 1.0]), subject, cam)
            assert 2.5 < p[2] < 6.0
            x, y = pinhole(p, 765.0, (320, 240))
            assert 0 < x < 640 and 0 < y < 480


def test_humaneva_mirror_swaps_its_own_left_and_right():
    pose = np.arange(15 * 3, dtype=np.float64).reshape(15, 3)
    flipped = mirror(pose)
    assert np.allclose(flipped[2], pose[5] * [-1, 1, 1]) and np.allclose(flipped[9], pose[12] * [-1, 1, 1])
    assert np.allclose(flipped[14], pose[14] * [-1, 1, 1])
    assert np.allclose(mirror(flipped), pose)


def test_3dhp_reorders_to_h36m_and_keeps_valid_frames(tmp_path):
    root = make_3dhp(tmp_path)
    train = mpi3dhp.load_3dhp(root, ["S1", "S2"])
    assert len(train) == 2 * 2 * 2 and {s.camera for s in train} == {0, 2}
    raw = np.load(root / "data_train_3dhp.npz", allow_pickle=True)["data"].item()["S1 Seq2"][0][2]
    seq = next(s for s in train if (s.subject, s.action, s.camera) == ("S1", "Seq2", 2))
    # Head top (3DHP 0) is Human3.6M joint 10, the pelvis (3DHP 14) joint 0; metres, root-relative.
    expected = (raw["data_3d"][:, 0] - raw["data_3d"][:, 14]) / 1000.0
    assert np.allclose(seq.pose3d[:, 10], expected, atol=1e-6)
    assert np.all(seq.pose3d[:, 0] == 0)
    assert np.allclose(seq.pose2d[:, 13], normalize_screen(raw["data_2d"][:, 7], (2048, 2048)), atol=1e-6)
    test = mpi3dhp.load_3dhp(root, ["TS1", "TS5"])
    assert [s.group for s in test] == ["TS1", "TS5"] and test[0].valid.sum() == 55
    raw_t = np.load(root / "data_test_3dhp.npz", allow_pickle=True)["data"].item()["TS5"]
    assert np.allclose(test[1].pose2d[:, 0], normalize_screen(raw_t["data_2d"][:, 14], (1920, 1080)),
                       atol=1e-6)


def _drop(key):
    def change(d):
        d.pop(key)
        return d
    return change


def _reshape_he(d):
    d["Train/S1"]["Jog 1 chunk0"] = d["Train/S1"]["Jog 1 chunk0"][:, :14]
    return d


def _two_cams(d):
    d["Train/S1"]["Jog 1 chunk0"] = d["Train/S1"]["Jog 1 chunk0"][:2]
    return d


@pytest.mark.parametrize("file, key, change, message", [
    ("data_3d_humaneva15.npz", "positions_3d", lambda d: None, "has no key 'positions_3d'"),
    ("data_2d_humaneva15_gt.npz", "metadata", lambda d: None, "has no key 'metadata'"),
    ("data_2d_humaneva15_gt.npz", "metadata", lambda d: {**d, "num_joints": 17}, "metadata says 17"),
    ("data_3d_humaneva15.npz", "positions_3d", _drop("Train/S2"), "has no subject Train/S2"),
    ("data_3d_humaneva15.npz", "positions_3d", _reshape_he, "expected [N, 15, 3]"),
    ("data_2d_humaneva15_gt.npz", "positions_2d", _two_cams, "has 2 cameras, expected 3"),
])
def test_humaneva_malformed_files_say_what_is_wrong(tmp_path, file, key, change, message):
    root = make_humaneva(tmp_path, subjects=("Train/S1", "Train/S2"), frames=20)
    rewrite(root / file, key, change)
    with pytest.raises(LiftRigError) as err:
        humaneva.load_humaneva(root, "gt", ["Train/S1", "Train/S2"])
    assert message in str(err.value)


def test_humaneva_unknown_subject_and_missing_file(tmp_path):
    root = make_humaneva(tmp_path, subjects=("Train/S1",), frames=20)
    with pytest.raises(LiftRigError, match="not a HumanEva-I subject"):
        humaneva.load_humaneva(root, "gt", ["S1"])
    with pytest.raises(LiftRigError, match="data_2d_humaneva15_detectron_pt_coco.npz not found") as err:
        humaneva.load_humaneva(root, "detectron_pt_coco", ["Train/S1"])
    assert "prepare_data_humaneva.py" in str(err.value)
    with pytest.raises(LiftRigError, match="no action starting with Throw"):
        humaneva.load_humaneva(root, "gt", ["Train/S1"], ["Throw"])


def _bad_2d(d):
    d["S1 Seq1"][0][0]["data_2d"] = d["S1 Seq1"][0][0]["data_2d"][:, :16]
    return d


def _no_3d(d):
    d["TS1"].pop("data_3d")
    return d


def _short_valid(d):
    d["TS1"]["valid"] = d["TS1"]["valid"][:-1]
    return d


@pytest.mark.parametrize("file, change, subjects, message", [
    ("data_train_3dhp.npz", lambda d: None, ["S1"], "has no key 'data'"),
    ("data_train_3dhp.npz", _drop("S2 Seq1") , ["S3"], "no sequences of subject S3"),
    ("data_train_3dhp.npz", _bad_2d, ["S1"], "expected [N, 17, 2]"),
    ("data_test_3dhp.npz", _no_3d, ["TS1"], "has no 'data_3d'"),
    ("data_test_3dhp.npz", _short_valid, ["TS1"], "'valid'] has 59 entries for 60 frames"),
    ("data_test_3dhp.npz", _drop("TS5"), ["TS5"], "has no test sequence TS5"),
    ("data_test_3dhp.npz", lambda d: d, ["TS9"], "not MPI-INF-3DHP subjects"),
])
def test_3dhp_malformed_files_say_what_is_wrong(tmp_path, file, change, subjects, message):
    root = make_3dhp(tmp_path)
    rewrite(root / file, "data", change)
    with pytest.raises(LiftRigError) as err:
        mpi3dhp.load_3dhp(root, subjects)
    assert message in str(err.value)


def test_pck_and_auc_per_frame_by_hand():
    gt = np.zeros((2, 4, 3))
    pred = gt.copy()
    pred[0, :, 0] = [0.0, 0.1, 0.149, 0.2]  # errors 0, 100, 149, 200 mm
    pred[1, :, 0] = 0.15                    # exactly at the threshold: not counted (error < 150)
    assert np.allclose(metrics.pck_frames(pred, gt), [75.0, 0.0])
    assert np.allclose(metrics.pck_frames(pred, gt, joints=[0, 3]), [50.0, 0.0])
    # AUC over 0, 5, .. 150 mm: joint 0 counts at the 30 thresholds above 0 (0 < 0 is false),
    # joint 1 (100 mm) at the 10 above 100, joint 2 (149 mm) at 150 only, joint 3 never.
    assert np.allclose(metrics.auc_frames(pred, gt)[0], 100.0 * (30 + 10 + 1 + 0) / 4 / 31)
    assert metrics.auc_frames(pred, gt)[1] == 0.0


# --- training and the tables -----------------------------------------------------------------


def recipe_3dhp(root, out, task="mixste", epochs=3):
    model = ("num_frames = 9\ndim = 16\ndepth = 1\nnum_heads = 2\ndrop_path = 0.0" if task == "mixste"
             else "num_frames = 9\ndim = 16\nhidden = 32\nlayers = 2\nnum_heads = 2\ndropout = 0.0")
    train = ('task = "mixste"\nbatch_size = 8\noptimizer = "adamw"\nlr = 2e-3\nsampling = "chunks"'
             if task == "mixste" else
             'task = "pstmo"\nbatch_size = 32\noptimizer = "adam"\namsgrad = true\nlr = 1e-3\n'
             'sampling = "centred"\nmax_steps_per_epoch = 20')
    return f"""
name = "tiny_3dhp_{task}"
[data]
dataset = "3dhp"
root = "{root}"
source = "gt"
train_subjects = ["S1", "S2"]
test_subjects = ["TS1", "TS5"]
val_fraction = 0.1
[model]
{model}
[train]
{train}
epochs = {epochs}
lr_decay = 0.99
workers = 0
[output]
dir = "{out}"
"""


def recipe_humaneva(root, out, epochs=3):
    return f"""
name = "tiny_humaneva"
[data]
dataset = "humaneva"
root = "{root}"
source = "gt"
train_subjects = ["Train/S1", "Train/S2", "Train/S3"]
test_subjects = ["Validate/S1", "Validate/S2", "Validate/S3"]
actions = ["Walk", "Jog", "Box"]
val_fraction = 0.1
[model]
num_frames = 9
num_joints = 15
dim = 16
depth = 1
num_heads = 2
drop_path = 0.0
[train]
task = "mixste"
epochs = {epochs}
batch_size = 8
optimizer = "adamw"
lr = 2e-3
lr_decay = 0.99
sampling = "chunks"
workers = 0
[output]
dir = "{out}"
"""


@pytest.fixture(scope="module")
def data_3dhp(tmp_path_factory):
    return make_3dhp(tmp_path_factory.mktemp("3dhp"), frames=80)


@pytest.fixture(scope="module")
def data_humaneva(tmp_path_factory):
    return make_humaneva(tmp_path_factory.mktemp("humaneva"), frames=50)


@pytest.mark.parametrize("task", ["mixste", "pstmo"])
def test_3dhp_training_lowers_the_loss_and_evaluate_prints_pck_auc(data_3dhp, tmp_path, task, capsys):
    path = write_recipe(tmp_path / "r.toml", recipe_3dhp(data_3dhp, tmp_path / "out", task))
    summary = train(load_config(str(path)), show_progress=False)
    losses = [e["loss"] for e in summary["history"]]
    assert losses[-1] < 0.8 * losses[0]
    assert main(["evaluate", str(path), str(tmp_path / "out" / "last.safetensors")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["PCK", "AUC", "MPJPE", "frames"]
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in lines[2:]}
    assert set(rows) == {"TS1", "TS5", "All"}
    assert rows["TS1"][3] == 75 and rows["All"][3] == 150  # valid frames only
    for pck, auc, mpjpe, _ in rows.values():
        assert 0 <= auc <= pck <= 100 and mpjpe > 0
    from liftrig.lifter.inference import load_lifter

    assert load_lifter(tmp_path / "out" / "last.safetensors", device="cpu").fps == 25.0


def test_humaneva_training_lowers_the_loss_and_evaluate_prints_the_table(data_humaneva, tmp_path, capsys):
    path = write_recipe(tmp_path / "r.toml", recipe_humaneva(data_humaneva, tmp_path / "out"))
    summary = train(load_config(str(path)), show_progress=False)
    losses = [e["loss"] for e in summary["history"]]
    assert losses[-1] < 0.8 * losses[0]
    assert summary["history"][-1]["val_mpjpe"] < summary["history"][0]["val_mpjpe"]
    from liftrig.lifter.checkpoints import read_checkpoint

    _, info = read_checkpoint(tmp_path / "out" / "last.safetensors")
    assert info["joints"] == "humaneva-15" and info["fps"] == 60.0
    assert main(["evaluate", str(path), str(tmp_path / "out" / "last.safetensors")]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[1].split()
    assert " ".join(lines[1].split()[:6]) == "Walk S1 Walk S2 Walk S3"
    assert header[-1] == "Avg." and len(header) == 2 * 9 + 1
    for row in ("P2", "P1"):
        cells = next(line for line in lines if line.startswith(row)).split()[1:]
        assert len(cells) == 10 and all(float(c) > 0 for c in cells)


def test_humaneva_flip_augmentation_uses_the_15_joint_mirror(data_humaneva):
    seqs = humaneva.load_humaneva(data_humaneva, "gt", ["Train/S1"], ["Walk"])
    ds = WindowDataset(seqs, 9, "chunks", flip=True)
    x, y = ds[len(ds) // 2 + 1]  # the mirrored copy of window 1
    x0, y0 = ds[1]
    assert np.allclose(x.numpy(), mirror(x0.numpy())) and y.shape == (9, 15, 3)


def test_shipped_3dhp_and_humaneva_recipes():
    cfg = load_config("mixste_3dhp_27")
    assert cfg["model"]["num_frames"] == 27 and cfg["data"]["dataset"] == "3dhp"
    s1, s2 = load_config("pstmo_s_3dhp_stage1"), load_config("pstmo_s_3dhp_stage2")
    assert s1["model"]["num_frames"] == s2["model"]["num_frames"] == 81
    assert (s1["train"]["mask_frames"], s1["train"]["mask_joints"], s1["train"]["lr"]) == (0.7, 2, 1e-4)
    assert (s2["train"]["lr"], s2["train"]["lr_decay"], s2["model"]["layers"]) == (7e-4, 0.97, 3)
    he = load_config("mixste_humaneva_43")
    assert he["model"]["num_joints"] == 15 and he["data"]["actions"] == ["Walk", "Jog", "Box"]
