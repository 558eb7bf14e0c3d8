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

Every value is checked as it is read, so a wrongly typed, non-finite or out-of-range field is a
:class:`LiftRigError` naming the file and the field, and a file cannot ask for more than
:data:`MAX_FRAMES` frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..checks import describe_json
from ..errors import LiftRigError
from ..formats import MAX_FRAME_INDEX, Keypoints2D
from .keypoints import MAX_GAP_S, assemble
from .landmarks import body25_to_coco17, coco17_to_h36m

# OpenPose's COCO-18 model -> COCO-17 (it adds a neck at 1).
_OPENPOSE18_TO_COCO17 = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)

MAX_FRAMES = 1_000_000   # rows of one keypoints file: 4.6 hours at 60 fps
MAX_PIXELS = 1e6         # a coordinate beyond this is no picture's
MAX_SCORE = 2.0          # confidences 0..1 (heatmap peaks a little above 1 are clipped), flags 0..2
# Integer image ids spanning more than SPARSE_SPAN frames need a detection in at least one frame
# in SPARSE_RATIO: ids such as 0 and 900,000 alone are not the frame numbers of one clip.
SPARSE_SPAN, SPARSE_RATIO = 10_000, 1000


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError: not JSON, or an integer too long to read; RecursionError: nested too deep.
        raise LiftRigError(f"{path} is not a readable JSON file ({exc}).") from None


# ---------------------------------------------------------------------------------------------
# Checks of JSON values: each error names the file and field, what was found and what is expected

def _expect(value, kind: type, where: str, expected: str):
    """``value`` when it is a ``kind`` (list, dict, str), else an error naming ``where``."""
    if not isinstance(value, kind):
        raise LiftRigError(f"{where}: expected {expected}, found {describe_json(value)}.")
    return value


def _whole_number(value, low: int, high: int, where: str, expected: str) -> int:
    """An integer JSON number (or a whole float such as 1920.0) in ``low..high``."""
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or not low <= value <= high:
        raise LiftRigError(f"{where}: expected {expected} ({low:,} to {high:,}), found "
                           f"{describe_json(value)}.")
    return value


def _numbers(values, lengths: tuple[int, ...], where: str, expected: str,
             limit: float = MAX_PIXELS) -> np.ndarray:
    """A flat list of finite JSON numbers within +-``limit``, of one of ``lengths`` -> float32."""
    if not isinstance(values, list) or len(values) not in lengths:
        raise LiftRigError(f"{where}: expected {expected}, found {describe_json(values)}.")
    for i, v in enumerate(values):
        if type(v) not in (int, float) or not -limit <= v <= limit:   # refuses NaN too
            raise LiftRigError(f"{where}: item {i} is {describe_json(v)}; expected {expected}, "
                               f"finite and between {-limit:g} and {limit:g}.")
    return np.asarray(values, np.float32)


def _image_id(value, where: str):
    """An image id: text, or an integer that is a frame number of the video."""
    if isinstance(value, str):
        return value
    if type(value) is not int or not 0 <= value <= MAX_FRAME_INDEX:
        raise LiftRigError(f'{where}, "image_id": expected a frame number of the video (0 to '
                           f"{MAX_FRAME_INDEX:,}) or a text id, found {describe_json(value)}.")
    return value


def _check_frame_count(count: int, where: str) -> None:
    """Refuse a file that would make more rows than a keypoints file holds."""
    if count > MAX_FRAMES:
        raise LiftRigError(f"{where}: {count:,} frames is more than one keypoints file holds "
                           f"({MAX_FRAMES:,}); split the video into shorter clips.")


def _triples(values, counts: tuple[int, ...], where: str,
             expected: str) -> tuple[np.ndarray, np.ndarray]:
    """A flat ``[x, y, c] * count`` list (``count`` one of ``counts``) -> points [count, 2],
    scores [count]; a score outside 0..MAX_SCORE is refused."""
    arr = _numbers(values, tuple(3 * c for c in counts), where, expected).reshape(-1, 3)
    bad = np.flatnonzero((arr[:, 2] < 0) | (arr[:, 2] > MAX_SCORE))
    if bad.size:
        raise LiftRigError(f"{where}: point {bad[0]} has the score {arr[bad[0], 2]:g}; scores "
                           f"must lie in 0..{MAX_SCORE:g} (a confidence 0..1, or COCO's "
                           "visibility flag 0, 1 or 2).")
    return arr[:, :2], arr[:, 2]


def _coco_scores(v: np.ndarray) -> np.ndarray:
    """COCO's v: ground-truth flags (0 absent, 1 occluded, 2 visible) or detector scores."""
    if np.all(np.isin(v, (0, 1, 2))) and v.max(initial=0) > 1:
        return np.where(v == 2, 1.0, np.where(v == 1, 0.5, 0.0)).astype(np.float32)
    return np.clip(v, 0, 1).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The two formats

_COCO_KEYPOINTS = "51 numbers (x, y, score for 17 points)"
_OPENPOSE_KEYPOINTS = "75 (BODY_25) or 54 (COCO-18) numbers (x, y, score per point)"


def read_coco(path: Path):
    """A COCO-17 JSON file -> (per-frame candidates, frame numbers, size or None)."""
    data = _read_json(path)
    if isinstance(data, dict) and "annotations" in data:
        row_of, size = _coco_images(data.get("images"), path)
        frames = np.arange(len(row_of))
        annotations = _expect(data["annotations"], list, f'{path}, "annotations"',
                              "the list of annotations")
    elif isinstance(data, list):
        row_of, frames = _coco_result_frames(data, path)
        annotations, size = data, None
    else:
        raise LiftRigError(f"{path} is neither a COCO results list nor a COCO dataset file.")
    candidates = [[] for _ in frames]
    for n, ann in enumerate(annotations):
        where = f"{path}, annotation {n}"
        _expect(ann, dict, where, 'an object {"image_id", "keypoints", ...}')
        if "image_id" not in ann or "keypoints" not in ann:
            continue
        row = row_of.get(_image_id(ann["image_id"], where))
        if row is None:
            continue
        points, v = _triples(ann["keypoints"], (17,), f'{where}, "keypoints"', _COCO_KEYPOINTS)
        if (v > 0).sum() >= 3:
            candidates[row].append(coco17_to_h36m(points, _coco_scores(v)))
    return candidates, frames, size


def _coco_images(images, path: Path) -> tuple[dict, tuple[int, int] | None]:
    """A dataset's ``images`` -> ({image id: row}, size or None): rows in file-name order."""
    _expect(images, list, f'{path}, "images"', 'the list of images [{"id", "file_name"}, ...]')
    if not images:
        raise LiftRigError(f"{path}: a COCO dataset file needs its 'images' list.")
    _check_frame_count(len(images), f'{path}, "images"')
    ids, names = [], []
    for n, im in enumerate(images):
        where = f"{path}, image {n}"
        _expect(im, dict, where, 'an object {"id", "file_name", "width", "height"}')
        if "id" not in im:
            raise LiftRigError(f'{where}: has no "id".')
        ids.append(_image_id(im["id"], where))
        names.append(_expect(im.get("file_name", str(ids[-1])), str, f'{where}, "file_name"',
                             "text"))
    seen = set()
    for i in ids:
        if i in seen:
            raise LiftRigError(f"{path}: two images have the id {describe_json(i)}; each image "
                               "needs its own id.")
        seen.add(i)
    order = sorted(range(len(images)), key=names.__getitem__)
    first = images[order[0]]
    size = None
    if "width" in first and "height" in first:
        size = tuple(_whole_number(first[k], 1, 100_000, f'{path}, image {order[0]}, "{k}"',
                                   "a size in pixels") for k in ("width", "height"))
    return {ids[i]: row for row, i in enumerate(order)}, size


def _coco_result_frames(results: list, path: Path) -> tuple[dict, np.ndarray]:
    """A results list's image ids -> ({image id: row}, frame numbers): integer ids are frame
    numbers (rows from the first to the last), text ids are frames in their sorted order."""
    ids = set()
    for n, ann in enumerate(results):
        where = f"{path}, annotation {n}"
        _expect(ann, dict, where, 'an object {"image_id", "keypoints", ...}')
        if "image_id" in ann:
            ids.add(_image_id(ann["image_id"], where))
    if not ids:
        raise LiftRigError(f"{path}: no COCO keypoint results (objects with 'image_id' and "
                           "'keypoints') were found.")
    text = {i for i in ids if isinstance(i, str)}
    if text:
        if len(text) < len(ids):
            raise LiftRigError(f"{path}: the image ids mix frame numbers (such as "
                               f"{min(ids - text)}) and text (such as {min(text)!r}); use one "
                               "kind for the whole file.")
        return {i: row for row, i in enumerate(sorted(ids))}, np.arange(len(ids))
    first, last = min(ids), max(ids)
    span = last - first + 1
    _check_frame_count(span, f"{path}, image ids {first} to {last}")
    if span > SPARSE_SPAN and span > SPARSE_RATIO * len(ids):
        raise LiftRigError(f"{path}: the image ids run from {first} to {last} ({span:,} frames) "
                           f"but only {len(ids)} frames have detections; integer image ids must "
                           "be the video's frame numbers.")
    return {i: i - first for i in ids}, np.arange(first, last + 1)


def read_openpose(folder: Path):
    """A folder of OpenPose per-frame JSON files -> (per-frame candidates, frame numbers)."""
    files = sorted(folder.glob("*.json"))
    if not files:
        raise LiftRigError(f"{folder} holds no .json files. Give OpenPose's --write_json folder "
                           "or a COCO keypoint JSON file.")
    _check_frame_count(len(files), f"{folder} (one .json file per frame)")
    candidates = []
    for file in files:
        frame = _expect(_read_json(file), dict, str(file), 'an OpenPose frame {"people": [...]}')
        people = []
        for n, person in enumerate(_expect(frame.get("people"), list, f'{file}, "people"',
                                           "the list of people OpenPose's --write_json writes")):
            where = f"{file}, person {n}"
            _expect(person, dict, where, 'an object {"pose_keypoints_2d": [...]}')
            points, scores = _triples(person.get("pose_keypoints_2d"), (25, 18),
                                      f'{where}, "pose_keypoints_2d"', _OPENPOSE_KEYPOINTS)
            if len(points) == 25:
                points, scores = body25_to_coco17(points, scores)
            else:
                keep = list(_OPENPOSE18_TO_COCO17)
                points, scores = points[keep], scores[keep]
            if (scores > 0).sum() >= 3:
                people.append(coco17_to_h36m(points, np.clip(scores, 0, 1)))
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
