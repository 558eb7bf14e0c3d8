# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading other 2D detectors' output (COCO-17 keypoint JSON, OpenPose per-frame JSON).

Users with a better 2D detector bring its output; it becomes the same keypoints file as
MediaPipe's, through the same subject tracking (:func:`.keypoints.assemble`).

- COCO-17: a results list ``[{"image_id", "keypoints": [x, y, v] * 17, "score"}, ...]``
  (integer image ids are frame numbers) or a dataset ``{"images": [...], "annotations": [...]}``
  (frames in the order of the images' file names; their size is read from it).
- OpenPose: a folder of per-frame ``*_keypoints.json`` files, ``{"people": [{"pose_keypoints_2d":
  [x, y, c] * 25}]}`` for BODY_25 (or * 18 for the COCO-18 model); a zero confidence is a
  missing point.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import LiftRigError
from ..formats import Keypoints2D
from .keypoints import MAX_GAP_S, assemble
from .landmarks import body25_to_coco17, coco17_to_h36m

# OpenPose's COCO-18 model -> COCO-17 (it adds a neck at 1).
_OPENPOSE18_TO_COCO17 = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LiftRigError(f"{path} is not a readable JSON file ({exc}).") from None


def _triples(values, count: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A flat ``[x, y, c] * count`` list -> points [count, 2], scores [count]."""
    arr = np.asarray(values, np.float32)
    if arr.shape != (3 * count,):
        raise LiftRigError(f"{where}: expected {3 * count} numbers (x, y, score for "
                           f"{count} points), found {arr.size}.")
    arr = arr.reshape(count, 3)
    return arr[:, :2], arr[:, 2]


def _coco_scores(v: np.ndarray) -> np.ndarray:
    """COCO's v: ground-truth flags (0 absent, 1 occluded, 2 visible) or detector scores."""
    if np.all(np.isin(v, (0, 1, 2))) and v.max(initial=0) > 1:
        return np.where(v == 2, 1.0, np.where(v == 1, 0.5, 0.0)).astype(np.float32)
    return np.clip(v, 0, 1).astype(np.float32)


def read_coco(path: Path):
    """A COCO-17 JSON file -> (per-frame candidates, frame numbers, size or None)."""
    data = _read_json(path)
    size = None
    if isinstance(data, dict) and "annotations" in data:
        images = sorted(data.get("images", []), key=lambda im: str(im.get("file_name", im["id"])))
        if not images:
            raise LiftRigError(f"{path}: a COCO dataset file needs its 'images' list.")
        row_of = {im["id"]: row for row, im in enumerate(images)}
        if "width" in images[0] and "height" in images[0]:
            size = (int(images[0]["width"]), int(images[0]["height"]))
        frames = np.arange(len(images))
        annotations = data["annotations"]
    elif isinstance(data, list):
        ids = sorted({a["image_id"] for a in data if isinstance(a, dict) and "image_id" in a})
        if not ids:
            raise LiftRigError(f"{path}: no COCO keypoint results (objects with 'image_id' and "
                               "'keypoints') were found.")
        if all(isinstance(i, int) for i in ids):
            frames = np.arange(min(ids), max(ids) + 1)
            row_of = {i: i - min(ids) for i in ids}
        else:
            frames = np.arange(len(ids))
            row_of = {i: row for row, i in enumerate(ids)}
        annotations = data
    else:
        raise LiftRigError(f"{path} is neither a COCO results list nor a COCO dataset file.")
    candidates = [[] for _ in frames]
    for n, ann in enumerate(annotations):
        if ann.get("image_id") not in row_of or "keypoints" not in ann:
            continue
        points, v = _triples(ann["keypoints"], 17, f"{path}, annotation {n}")
        if (v > 0).sum() >= 3:
            candidates[row_of[ann["image_id"]]].append(coco17_to_h36m(points, _coco_scores(v)))
    return candidates, frames, size


def read_openpose(folder: Path):
    """A folder of OpenPose per-frame JSON files -> (per-frame candidates, frame numbers)."""
    files = sorted(folder.glob("*.json"))
    if not files:
        raise LiftRigError(f"{folder} holds no .json files. Give OpenPose's --write_json folder "
                           "or a COCO keypoint JSON file.")
    candidates = []
    for file in files:
        people = []
        for person in _read_json(file).get("people", []):
            flat = person.get("pose_keypoints_2d") or []
            if len(flat) == 75:
                points, scores = body25_to_coco17(*_triples(flat, 25, str(file)))
            elif len(flat) == 54:
                points, scores = _triples(flat, 18, str(file))
                points, scores = points[list(_OPENPOSE18_TO_COCO17)], scores[list(_OPENPOSE18_TO_COCO17)]
            else:
                raise LiftRigError(f"{file}: pose_keypoints_2d has {len(flat)} numbers; expected "
                                   "75 (BODY_25) or 54 (COCO-18).")
            if (scores > 0).sum() >= 3:
                people.append(coco17_to_h36m(points, scores))
        candidates.append(people)
    return candidates, np.arange(len(files))


_NEED_VIDEO = ("The JSON does not say the video's frame rate and size: give the VIDEO too "
               "(`liftrig keypoints VIDEO --from-json ...`), or --fps and --size WIDTHxHEIGHT.")


def keypoints_from_json(source, fps: float | None = None, size: tuple[int, int] | None = None,
                        person: int | None = None,
                        max_gap_s: float = MAX_GAP_S) -> Keypoints2D:
    """Read COCO-17 or OpenPose JSON (a file or a folder) into one subject's keypoints.

    ``fps`` and ``size`` come from the video the detections were made on; a COCO dataset file
    states its images' size itself.
    """
    source = Path(source)
    if fps is None:
        raise LiftRigError(_NEED_VIDEO)
    if not source.exists():
        raise LiftRigError(f"Keypoint JSON not found: {source}. Check the path.")
    if source.is_dir():
        candidates, frames = read_openpose(source)
        kind, stated_size = "openpose-json", None
    else:
        candidates, frames, stated_size = read_coco(source)
        kind = "coco-json"
    size = size or stated_size
    if size is None:
        raise LiftRigError(_NEED_VIDEO)
    return assemble(candidates, fps, size, frames, person, max_gap_s, kind)
