# SPDX-License-Identifier: GPL-3.0-or-later
"""Human3.6M loading and validation, the cameras, and the two sampling schemes."""

import numpy as np
import pytest
from training_helpers import METADATA, make_h36m

from liftrig.errors import LiftRigError
from liftrig.h36m import normalize_screen
from liftrig.training.data import cameras
from liftrig.training.data.h36m import KEEP_JOINTS_32, action_group, load_h36m, split_tail
from liftrig.training.data.windows import WindowDataset, chunk_starts, mirror, window_indices


def test_cameras_look_at_the_capture_area():
    """The world origin (the middle of the floor) is 4-7 m in front of every camera, in the image."""
    for subject in cameras.EXTRINSICS:
        for cam in range(4):
            p = cameras.world_to_camera(np.array([0.0, 0.0, 1.0]), subject, cam)
            assert 4.0 < p[2] < 7.0
            x, y = cameras.project(p, cam)
            w, h = cameras.INTRINSICS[cam]["res"]
            assert 0 < x < w and 0 < y < h
            back = cameras.camera_to_world(p, subject, cam)
            assert np.allclose(back, [0, 0, 1], atol=1e-6)


def test_load_crops_normalises_and_goes_to_camera_space(tmp_path):
    root = make_h36m(tmp_path, subjects=("S1", "S9"), frames=30)
    seqs = load_h36m(root, "gt", ["S1"])
    assert len(seqs) == 3 * 4 and {s.camera for s in seqs} == {0, 1, 2, 3}
    raw3d = np.load(root / "data_3d_h36m.npz", allow_pickle=True)["positions_3d"].item()
    raw2d = np.load(root / "data_2d_h36m_gt.npz", allow_pickle=True)["positions_2d"].item()
    seq = seqs[5]
    assert len(raw2d["S1"][seq.action][seq.camera]) == 32 and len(seq) == 30  # cropped to the 3D
    expected2d = normalize_screen(raw2d["S1"][seq.action][seq.camera][:30],
                                  cameras.INTRINSICS[seq.camera]["res"])
    assert np.allclose(seq.pose2d, expected2d, atol=1e-6)
    cam3d = cameras.world_to_camera(raw3d["S1"][seq.action][:, KEEP_JOINTS_32], "S1", seq.camera)
    assert np.allclose(seq.pose3d, cam3d - cam3d[:, :1], atol=1e-5)
    assert np.all(seq.pose3d[:, 0] == 0)


def _rewrite(path, key, value):
    with np.load(path, allow_pickle=True) as data:
        entries = {k: data[k] for k in data.files}
    if value is None:
        entries.pop(key)
    else:
        entries[key] = value
    np.savez(path, **entries)


@pytest.mark.parametrize("case, message", [
    ("no 2d file", "data_2d_h36m_gt.npz not found"),
    ("missing key", "has no key 'positions_3d'"),
    ("missing metadata", "has no key 'metadata'"),
    ("wrong symmetry", "keypoints_symmetry"),
    ("missing subject", "has no subject S9"),
    ("wrong 3d shape", "expected [N, 32, 3]"),
    ("wrong 2d shape", "expected [N, 17, 2]"),
    ("short 2d", "fewer than the 40 of the 3D"),
    ("three cameras", "has 3 cameras, expected 4"),
    ("unknown source", "unknown 2D source"),
])
def test_malformed_dataset_gives_a_clear_error(tmp_path, case, message):
    root = make_h36m(tmp_path, subjects=("S1", "S9"), actions=("Walking",))
    p3, p2 = root / "data_3d_h36m.npz", root / "data_2d_h36m_gt.npz"
    d3 = np.load(p3, allow_pickle=True)["positions_3d"].item()
    d2 = np.load(p2, allow_pickle=True)["positions_2d"].item()
    source = "gt"
    if case == "no 2d file":
        p2.unlink()
    elif case == "missing key":
        np.savez(p3, positions=d3)
    elif case == "missing metadata":
        _rewrite(p2, "metadata", None)
    elif case == "wrong symmetry":
        _rewrite(p2, "metadata", {**METADATA, "keypoints_symmetry": [[1, 2, 3], [4, 5, 6]]})
    elif case == "missing subject":
        del d3["S9"]
        np.savez(p3, positions_3d=d3)
    elif case == "wrong 3d shape":
        d3["S1"]["Walking"] = d3["S1"]["Walking"][:, :17]
        np.savez(p3, positions_3d=d3)
    elif case == "wrong 2d shape":
        d2["S9"]["Walking"][2] = d2["S9"]["Walking"][2][:, :16]
        _rewrite(p2, "positions_2d", d2)
    elif case == "short 2d":
        d2["S1"]["Walking"][0] = d2["S1"]["Walking"][0][:35]
        _rewrite(p2, "positions_2d", d2)
    elif case == "three cameras":
        d2["S1"]["Walking"] = d2["S1"]["Walking"][:3]
        _rewrite(p2, "positions_2d", d2)
    elif case == "unknown source":
        source = "hrnet"
    with pytest.raises(LiftRigError) as err:
        load_h36m(root, source, ["S1", "S9"])
    assert message in str(err.value)


def test_missing_folder_says_how_to_prepare(tmp_path):
    with pytest.raises(LiftRigError, match="prepare_data_h36m"):
        load_h36m(tmp_path / "nowhere", "gt", ["S1"])


def test_chunk_grid_and_centred_windows():
    # 10 frames in chunks of 4: 3 chunks = 12 frames, the 2 spare split 1 / 1 -> starts -1, 3, 7.
    assert chunk_starts(10, 4).tolist() == [-1, 3, 7]
    assert chunk_starts(8, 4).tolist() == [0, 4]
    assert window_indices(5, 0, 3, 2).tolist() == [0, 0, 2]
    assert window_indices(5, 4, 5, 2).tolist() == [0, 2, 4, 4, 4]


def test_window_dataset_pads_with_edge_frames_and_flips(tmp_path):
    root = make_h36m(tmp_path, subjects=("S1",), actions=("Walking",), frames=10)
    seqs = load_h36m(root, "gt", ["S1"])[:1]
    ds = WindowDataset(seqs, 4, "chunks", flip=True)
    assert len(ds) == 2 * 3
    x, y = ds[0]  # the chunk starting at -1: frame 0 repeated, then frames 0..2
    assert np.array_equal(x.numpy(), seqs[0].pose2d[[0, 0, 1, 2]])
    xf, yf = ds[3]  # the same chunk, mirrored
    assert np.allclose(xf.numpy(), mirror(x.numpy())) and np.allclose(yf.numpy(), mirror(y.numpy()))
    assert np.allclose(xf[:, 1, 0].numpy(), -x[:, 4, 0].numpy())  # right hip <- left hip, x negated
    centred = WindowDataset(seqs, 5, "centred", dilation=2)
    assert len(centred) == 10
    x, _ = centred[4]
    assert np.array_equal(x.numpy(), seqs[0].pose2d[[0, 2, 4, 6, 8]])


def test_validation_split_is_the_tail_of_training_sequences(tmp_path):
    root = make_h36m(tmp_path, subjects=("S1",), actions=("Walking",), frames=40)
    seqs = load_h36m(root, "gt", ["S1"])
    train, val = split_tail(seqs, 0.1)
    assert [len(s) for s in train] == [36] * 4 and [len(s) for s in val] == [4] * 4
    assert np.array_equal(val[0].pose3d, seqs[0].pose3d[36:])


def test_action_groups():
    assert action_group("Walking 1") == "Walking"
    assert action_group("TakingPhoto") == "Photo" and action_group("WalkingDog 1") == "WalkDog"
    assert action_group("WalkTogether") == "WalkTogether"


class _RunsACommand:
    """What a hostile dataset file could pickle: unpickling it would run a shell command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_dataset_files_are_read_without_running_pickled_code(tmp_path):
    """The common layouts' pickled dicts are read with a data-only unpickler: a file that would
    run code is refused with a message naming what it holds, and nothing runs."""
    root = make_h36m(tmp_path, subjects=("S1",), frames=20)
    marker = tmp_path / "ran"
    hostile = {"S1": {"Walking": _RunsACommand(marker)}}
    np.savez(root / "data_3d_h36m.npz", positions_3d=np.array(hostile, dtype=object))
    with pytest.raises(LiftRigError, match="refused to load posix.system|refused to load os.system"):
        load_h36m(root, "gt", ["S1"])
    assert not marker.exists()


def test_safe_reader_gives_what_numpy_gives(tmp_path):
    """Plain and object arrays, nested dicts and lists, read back as numpy's own loader does."""
    from liftrig.training.data.npz import read_dict, read_npz

    nested = {"S1": {"Walk 1": [np.arange(6, dtype=np.float32).reshape(2, 3),
                                np.ones((2, 3), np.float64)]}, "meta": (1, "a")}
    fortran = np.asfortranarray(np.arange(12).reshape(3, 4))
    np.savez(tmp_path / "d.npz", data=np.array(nested, dtype=object), plain=fortran,
             scalar=np.float32(2.5))
    entries = read_npz(tmp_path / "d.npz", "hint")
    assert sorted(entries) == ["data", "plain", "scalar"]
    assert np.array_equal(entries["plain"], fortran) and entries["scalar"] == np.float32(2.5)
    data, _ = read_dict(tmp_path / "d.npz", "data", "a layout", "hint")
    got = data["S1"]["Walk 1"]
    assert got[0].dtype == np.float32 and np.array_equal(got[0], nested["S1"]["Walk 1"][0])
    assert np.array_equal(got[1], np.ones((2, 3))) and data["meta"] == (1, "a")
    with pytest.raises(LiftRigError, match="no key 'positions'.*a layout.*hint"):
        read_dict(tmp_path / "d.npz", "positions", "a layout", "hint")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(LiftRigError, match="not a readable .npz"):
        read_npz(tmp_path / "bad.npz", "hint")
