# SPDX-License-Identifier: GPL-3.0-or-later
"""Another detector's JSON -> the same keypoints file as MediaPipe's.

MediaPipe's landmarks on real footage are written out as COCO-17 results and as OpenPose
BODY_25 per-frame files; reading them back must give MediaPipe's own keypoints.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from liftrig.errors import LiftRigError
from liftrig.formats import Keypoints2D
from liftrig.detect.external_json import keypoints_from_json
from liftrig.detect.keypoints import extract_keypoints
from liftrig.detect.landmarks import MEDIAPIPE_TO_COCO17

from conftest import POSE_MODEL, VIDEOS

# BODY_25 slots filled from COCO-17 (neck, mid-hip and feet are left at zero confidence).
_COCO17_TO_BODY25 = {0: 0, 1: 16, 2: 15, 3: 18, 4: 17, 5: 5, 6: 2, 7: 6, 8: 3, 9: 7, 10: 4,
                     11: 12, 12: 9, 13: 13, 14: 10, 15: 14, 16: 11}


@pytest.fixture(scope="module")
def mediapipe_kp():
    return extract_keypoints(VIDEOS["lab"], pose_model=POSE_MODEL, end=30)


def _coco_people(kp):
    """Per frame, the subject as COCO-17 (points [17, 2], scores [17]) from MediaPipe's landmarks."""
    for f in range(kp.num_frames):
        if kp.valid[f]:
            marks = kp.landmarks[f][list(MEDIAPIPE_TO_COCO17)]
            yield f, marks[:, :2], marks[:, 3]


def test_coco_results_match_mediapipe(mediapipe_kp, tmp_path):
    results = []
    for f, points, scores in _coco_people(mediapipe_kp):
        flat = np.concatenate([points, scores[:, None]], axis=1).ravel()
        results.append({"image_id": f, "category_id": 1, "keypoints": flat.tolist(), "score": 0.9})
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(results))
    kp = keypoints_from_json(path, fps=60, size=(1088, 1920))
    assert kp.source == "coco-json" and kp.num_frames == mediapipe_kp.num_frames
    valid = mediapipe_kp.valid
    np.testing.assert_allclose(kp.keypoints[valid], mediapipe_kp.keypoints[valid], atol=1e-3)


def test_openpose_folder_matches_mediapipe_through_the_cli(mediapipe_kp, tmp_path):
    folder = tmp_path / "openpose"
    folder.mkdir()
    for f, points, scores in _coco_people(mediapipe_kp):
        body25 = np.zeros((25, 3), np.float32)
        for c, b in _COCO17_TO_BODY25.items():
            body25[b] = [*points[c], scores[c]]
        decoy = body25.copy()
        decoy[:, 0] += 700  # somebody else, far to the right and smaller in prominence
        decoy[:, 2] *= 0.2
        (folder / f"clip_{f:012d}_keypoints.json").write_text(json.dumps({"people": [
            {"pose_keypoints_2d": decoy.ravel().tolist()},
            {"pose_keypoints_2d": body25.ravel().tolist()}]}))
    out = tmp_path / "kp.npz"
    run = subprocess.run([sys.executable, "-m", "liftrig", "keypoints", str(VIDEOS["lab"]),
                          "--from-json", str(folder), "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    kp = Keypoints2D.load(out)
    assert kp.source == "openpose-json" and kp.fps == 60 and kp.size == (1088, 1920)
    valid = mediapipe_kp.valid
    np.testing.assert_allclose(kp.keypoints[valid], mediapipe_kp.keypoints[valid], atol=1e-3)


def test_json_errors_are_clear(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LiftRigError, match="no .json files"):
        keypoints_from_json(empty, fps=30, size=(10, 10))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LiftRigError, match="not a readable JSON"):
        keypoints_from_json(bad, fps=30, size=(10, 10))
    short = tmp_path / "short.json"
    short.write_text(json.dumps([{"image_id": 0, "keypoints": [1, 2, 1]}]))
    with pytest.raises(LiftRigError, match="expected 51 numbers"):
        keypoints_from_json(short, fps=30, size=(10, 10))
    run = subprocess.run([sys.executable, "-m", "liftrig", "keypoints", "--from-json", str(short),
                          "-o", str(tmp_path / "x.npz")], capture_output=True, text=True)
    assert run.returncode == 2 and "--fps and --size" in run.stderr
