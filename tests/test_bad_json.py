# SPDX-License-Identifier: GPL-3.0-or-later
"""Wrongly typed JSON from the user: one clear LiftRigError naming the file and the field.

COCO keypoint files, OpenPose frame folders and bone maps with text where numbers go, NaN and
infinity, out-of-range ids and scores, runaway frame spans and parent chains: never a traceback,
never a huge allocation, and on the command line one line on stderr, exit 2 and no output file.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from liftrig.errors import LiftRigError
from liftrig.formats import Keypoints2D
from liftrig.detect.external_json import keypoints_from_json
from liftrig.retarget.bonemap import MAX_DEPTH, bind, load_bone_map_json

from conftest import VIDEOS
from test_retarget_solver import BONES as SOLVER_BONES
from test_retarget_solver import SKELETON as SOLVER_SKELETON

# One COCO-17 person: x, y, score for 17 points.
GOOD_17 = [v for i in range(17) for v in (100.0 + 5 * i, 200.0 + 3 * i, 0.9)]
GOOD_25 = [v for i in range(25) for v in (100.0 + 5 * i, 200.0 + 3 * i, 0.9)]


def _write(path, data) -> str:
    """``data`` as JSON (NaN and Infinity written as Python's json writes them)."""
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def _person(**change):
    return {"image_id": 0, "category_id": 1, "keypoints": GOOD_17, "score": 0.9, **change}


# ---------------------------------------------------------------------------------------------
# COCO-17

@pytest.mark.parametrize("data, message", [
    ([_person(keypoints="abc")], r'annotation 0, "keypoints": expected 51 numbers .*the text'),
    ([_person(keypoints=GOOD_17[:-1])], r'"keypoints": expected 51 numbers .*50 items'),
    ([_person(keypoints=[GOOD_17[i:i + 3] for i in range(0, 51, 3)])],
     r'"keypoints": expected 51 numbers .*a list of 17 items'),
    ([_person(keypoints=GOOD_17[:7] + ["7"] + GOOD_17[8:])], r"item 7 is the text '7'"),
    ([_person(keypoints=GOOD_17[:-1] + [float("nan")])], r'"keypoints": item 50 is NaN'),
    ([_person(keypoints=[float("inf")] + GOOD_17[1:])], r'"keypoints": item 0 is Infinity'),
    ([_person(keypoints=[1e300] + GOOD_17[1:])], r'"keypoints": item 0 is 1e\+300'),
    ([_person(keypoints=GOOD_17[:-1] + [7.0])], r"point 16 has the score 7; scores must lie"),
    ([_person(keypoints=GOOD_17[:-1] + [-0.5])], r"point 16 has the score -0.5"),
    ([_person(image_id=0), _person(image_id="frame_1")], r"mix frame numbers .* and text"),
    ([_person(image_id=10**12)], r'annotation 0, "image_id": expected a frame number'),
    ([_person(image_id=-1)], r'"image_id": expected a frame number .*found -1'),
    ([_person(image_id=2.5)], r'"image_id": expected a frame number .*found 2.5'),
    ([_person(image_id=True)], r'"image_id": .*found true'),
    ([_person(image_id=[3])], r'"image_id": .*found a list of 1 item'),
    ([_person(image_id=0), _person(image_id=3_000_000)], r"3,000,001 frames is more than"),
    ([_person(image_id=0), _person(image_id=500_000)], r"only 2 frames have detections"),
    ([5, _person()], r"annotation 0: expected an object"),
    ({"images": "frames", "annotations": []}, r'"images": expected the list of images'),
    ({"images": [{"id": 1, "width": "wide", "height": 10}], "annotations": []},
     r'image 0, "width": expected a size in pixels'),
    ({"images": [{"id": 1}, {"id": 1}], "annotations": []}, r"two images have the id 1"),
    ({"images": [{"file_name": "a.jpg"}], "annotations": []}, r'image 0: has no "id"'),
    ({"images": [{"id": 1}], "annotations": {"id": 1}}, r'"annotations": expected the list'),
    ({"images": [{"id": 1}], "annotations": [_person(image_id=1, keypoints=None)]},
     r'"keypoints": expected 51 numbers .*null'),
])
def test_bad_coco_files_name_the_field(tmp_path, data, message):
    path = _write(tmp_path / "coco.json", data)
    with pytest.raises(LiftRigError, match=message) as info:
        keypoints_from_json(path, fps=30, size=(640, 480))
    assert str(info.value).startswith(path) and "\n" not in str(info.value)


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,       # nested beyond the JSON reader's recursion
    "[" + "9" * 5000 + "]",              # an integer too long for Python to read
    b"\xff\xfe[1]".decode("latin-1"),    # not UTF-8
])
def test_unreadable_json_is_one_error(tmp_path, text):
    path = tmp_path / "coco.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(LiftRigError, match="not a readable JSON file"):
        keypoints_from_json(path, fps=30, size=(640, 480))


def test_good_coco_edge_cases_still_read(tmp_path):
    """Whole-float sizes, heatmap scores a little above 1, entries without keypoints."""
    data = {"images": [{"id": 7, "file_name": "b.jpg", "width": 640.0, "height": 480},
                       {"id": 3, "file_name": "a.jpg", "width": 640.0, "height": 480}],
            "annotations": [_person(image_id=7, keypoints=GOOD_17[:-1] + [1.05]),
                            {"image_id": 3, "bbox": [0, 0, 1, 1]}]}
    kp = keypoints_from_json(_write(tmp_path / "coco.json", data), fps=30)
    assert kp.size == (640, 480) and kp.num_frames == 2 and kp.valid.tolist() == [False, True]
    assert kp.scores.max() <= 1.0


# ---------------------------------------------------------------------------------------------
# OpenPose

@pytest.mark.parametrize("frame, message", [
    ({"people": None}, r'"people": expected the list of people .*null'),
    ({"people": "none"}, r'"people": expected the list of people .*the text'),
    ({"version": 1.3}, r'"people": expected the list of people .*null'),
    ([{"pose_keypoints_2d": GOOD_25}], r"expected an OpenPose frame"),
    ({"people": [[1, 2, 3]]}, r'person 0: expected an object'),
    ({"people": [{"pose_keypoints_2d": "x"}]}, r'"pose_keypoints_2d": expected 75 \(BODY_25\)'),
    ({"people": [{"pose_keypoints_2d": GOOD_25[:60]}]}, r"54 \(COCO-18\).*60 items"),
    ({"people": [{"pose_keypoints_2d": GOOD_25[:5] + [float("nan")] + GOOD_25[6:]}]},
     r'"pose_keypoints_2d": item 5 is NaN'),
    ({"people": [{"pose_keypoints_2d": GOOD_25[:-1] + [3.0]}]}, r"point 24 has the score 3"),
])
def test_bad_openpose_frames_name_the_file_and_field(tmp_path, frame, message):
    folder = tmp_path / "openpose"
    folder.mkdir()
    _write(folder / "clip_000000000000_keypoints.json",
           {"people": [{"pose_keypoints_2d": GOOD_25}]})
    bad = _write(folder / "clip_000000000001_keypoints.json", frame)
    with pytest.raises(LiftRigError, match=message) as info:
        keypoints_from_json(folder, fps=30, size=(640, 480))
    assert str(info.value).startswith(bad)


# ---------------------------------------------------------------------------------------------
# Bone maps

# The solver tests' small rig and bone map, with a roll on the chest (a field to break).
SKELETON = {**SOLVER_SKELETON, "chest": {**SOLVER_SKELETON["chest"], "roll": 10}}
BONES = SOLVER_BONES


def _bone_map(change=None) -> dict:
    data = {"name": "tiny", "bones": json.loads(json.dumps(BONES)),
            "skeleton": json.loads(json.dumps(SKELETON)), "points": {"Thorax": "chest.tail"}}
    if change:
        change(data)
    return data


def _deep_chain(data, length=20_000):
    parent = "shin.L"
    for i in range(length):
        data["skeleton"][f"tail{i}"] = {"parent": parent, "head": [0, 0.01 * i, 0.1],
                                        "tail": [0, 0.01 * i + 0.01, 0.1]}
        parent = f"tail{i}"


def test_the_good_bone_map_binds(tmp_path):
    bone_map, rig = load_bone_map_json(_write(tmp_path / "rig.json", _bone_map()))
    assert bind(rig, bone_map).unmapped == ()
    # A chain as deep as allowed is fine.
    bone_map, rig = load_bone_map_json(_write(
        tmp_path / "deep.json", _bone_map(lambda d: _deep_chain(d, MAX_DEPTH - 3))))
    assert rig.num_bones == 5 + MAX_DEPTH - 3


BAD_BONE_MAPS = [
    (lambda d: d.update(skeleton=[SKELETON["hip"]]), r'"skeleton": expected \{BONE: .*a list'),
    (lambda d: d["skeleton"]["chest"].update(roll="abc"), r"'chest' roll \(degrees\): .*'abc'"),
    (lambda d: d["skeleton"]["chest"].update(roll=float("nan")), r"'chest' roll .*got NaN"),
    (lambda d: d["skeleton"]["chest"].update(roll=1e9), r"between -360 and 360, got 1000000000.0"),
    (lambda d: d["points"].update(Thorax=".*chest.tail"), r"the weight '.' in '.\*chest.tail'"),
    (lambda d: d["points"].update(Thorax="1e999*chest.tail"), r"weight '1e999' .* finite"),
    (lambda d: d["bones"]["chest"].update(aim=["0.5.5*Spine", "Thorax"]), r"weight '0.5.5'"),
    (lambda d: d["skeleton"]["chest"].update(head=[0, float("nan"), 1.2]),
     r"skeleton bone 'chest' head\[1\]: expected a finite number .*NaN"),
    (lambda d: d["skeleton"]["chest"].update(tail=[0, 0, float("inf")]),
     r"skeleton bone 'chest' tail\[2\]: .*Infinity"),
    (lambda d: d["skeleton"]["chest"].update(tail=[1e308, -1e308, 1]), r"tail\[0\]: .*1e\+308"),
    (lambda d: d["skeleton"]["chest"].update(tail=["0", "0", "1"]), r"tail\[0\]: .*the text"),
    (lambda d: d["skeleton"]["chest"].update(tail=[0, 1]), r"tail: expected \[x, y, z\]"),
    (lambda d: d["skeleton"]["chest"].update(parent=["hip"]), r"'chest' parent: expected text"),
    (lambda d: d["skeleton"].update(chest="hip"), r"skeleton bone 'chest': expected \{"),
    (_deep_chain, rf"parent chain .* is {MAX_DEPTH + 1} bones long, more than the {MAX_DEPTH}"),
    (lambda d: d["skeleton"]["hip"].update(parent="chest"), r"form a cycle"),
    (lambda d: d.update(skeletn=d.pop("skeleton")), r"unknown key 'skeletn' \(did you mean "
                                                    r"'skeleton'\?\)"),
    (lambda d: d["bones"]["chest"].update(twsit="swing"), r"bone 'chest' has the unknown key "
                                                          r"'twsit' \(did you mean 'twist'\?\)"),
    (lambda d: d["skeleton"]["chest"].update(rol=10), r"'chest' has the unknown key 'rol'"),
    (lambda d: d.update(points=["Thorax", "chest.tail"]), r'"points": expected \{POINT'),
    (lambda d: d.update(translation_bone=0), r'"translation_bone": expected text or null, got 0'),
    (lambda d: d.update(name={"en": "tiny"}), r'"name": expected text or null, got an object'),
    (lambda d: d["bones"].update(chest={"aim": "Spine"}), r'bone \'chest\': expected "aim"'),
]


@pytest.mark.parametrize("change, message", BAD_BONE_MAPS)
def test_bad_bone_maps_name_the_file_and_field(tmp_path, change, message):
    path = _write(tmp_path / "bad.json", _bone_map(change))
    with pytest.raises(LiftRigError, match=message) as info:
        load_bone_map_json(path)
    assert str(info.value).startswith(path) and "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["[" * 100_000, '{"name": ' + "1" * 5000 + "}", "\udcff"])
def test_unreadable_bone_maps_are_one_error(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(LiftRigError, match=r"not (valid|a readable) JSON"):
        load_bone_map_json(path)


# ---------------------------------------------------------------------------------------------
# Through the command line: exit 2, one line on stderr, no output file

def _one_line_error(args, out):
    run = subprocess.run([sys.executable, "-m", "liftrig", *args], capture_output=True,
                         text=True, timeout=120)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2, run.stderr
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert not out.exists()
    return lines[0]


@pytest.mark.parametrize("data, message", [
    ([_person(keypoints="abc")], '"keypoints": expected 51 numbers'),
    ([_person(image_id=0), _person(image_id=3_000_000)], "3,000,001 frames"),
])
def test_cli_keypoints_from_bad_coco_json(tmp_path, data, message):
    src = _write(tmp_path / "coco.json", data)
    out = tmp_path / "kp.npz"
    line = _one_line_error(["keypoints", str(VIDEOS["lab"]), "--from-json", src, "-o", str(out)],
                           out)
    assert line.startswith("liftrig keypoints: error:") and message in line and src in line


def test_cli_keypoints_from_bad_openpose_folder(tmp_path):
    folder = tmp_path / "openpose"
    folder.mkdir()
    _write(folder / "clip_000000000000_keypoints.json", {"people": None})
    out = tmp_path / "kp.npz"
    line = _one_line_error(["keypoints", "--from-json", str(folder), "--fps", "30", "--size",
                            "640x480", "-o", str(out)], out)
    assert '"people": expected the list of people' in line


@pytest.mark.parametrize("change, message", [
    (lambda d: d["skeleton"]["chest"].update(head=[0, float("nan"), 1.2]), "head[1]"),
    (_deep_chain, "parent chain"),
    (lambda d: d.update(skeleton=list(SKELETON.values())), '"skeleton": expected'),
])
def test_cli_retarget_with_a_bad_bone_map(tmp_path, change, message):
    frames = 8
    joints = Keypoints2D(keypoints=np.zeros((frames, 17, 2)), scores=np.ones((frames, 17)),
                         valid=np.ones(frames, bool), fps=30, size=(640, 480),
                         frame_index=np.arange(frames))
    src = tmp_path / "clip.npz"
    joints.save(src, joints3d=np.zeros((frames, 17, 3), np.float32))
    rig = _write(tmp_path / "rig.json", _bone_map(change))
    out = tmp_path / "clip.bvh"
    line = _one_line_error(["retarget", str(src), "-o", str(out), "--rig", rig], out)
    assert line.startswith("liftrig retarget: error:") and message in line and rig in line
