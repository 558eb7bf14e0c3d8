# SPDX-License-Identifier: GPL-3.0-or-later
"""The 2D stage: a video in, one subject's Human3.6M-17 keypoints out (:class:`Keypoints2D`).

decode (thread, :mod:`.video`) -> MediaPipe PoseLandmarker (:mod:`.pose2d`) -> map each person to
Human3.6M (:mod:`.landmarks`) -> follow one subject (:mod:`.tracking`) -> undo left/right
swaps of the limbs -> fill short gaps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..errors import LiftRigError
from ..formats import Keypoints2D
from ..progress import ProgressFn, report
from .landmarks import mediapipe_to_h36m
from .tracking import track_subject

log = logging.getLogger("liftrig")

MAX_GAP_S = 0.5  # gaps up to this long are interpolated; longer ones are reported

# Limb ends that MediaPipe sometimes labels with the wrong side for a few frames (a foot or hand
# that jumps to the other one and back): (right joints, left joints) in Human3.6M order.
SWAPPABLE_LIMBS = (((2, 3), (5, 6)),        # knee, ankle
                   ((15, 16), (12, 13)))    # elbow, wrist
# The cost of a frame whose labels are swapped against the detector's, in torso lengths of
# movement at 30 fps: a swap must buy this much smoother motion per frame it lasts. Chosen on
# the shared outdoor clip (0.05-0.3 all remove its swaps; 0.6 keeps some); see the tests.
SWAP_COST = 0.3


@dataclass(frozen=True)
class Gap:
    """A run of frames ``start <= f < end`` (rows of the keypoints file) without the subject."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def find_gaps(valid: np.ndarray) -> list[Gap]:
    """The runs of False in ``valid`` [F]."""
    padded = np.concatenate([[True], np.asarray(valid, bool), [True]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [Gap(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def fill_gaps(points: np.ndarray, valid: np.ndarray, max_gap: int) -> tuple[np.ndarray, list[Gap]]:
    """Interpolate gaps of at most ``max_gap`` frames between detections; hold the nearest
    detection across longer gaps and the clip's ends. Returns the filled copy and the long gaps.
    """
    points = np.array(points, np.float32, copy=True)  # [F, ...]
    long_gaps = []
    for gap in find_gaps(valid):
        before, after = gap.start - 1, gap.end
        has_before, has_after = before >= 0, after < len(points)
        if has_before and has_after and gap.length <= max_gap:
            t = (np.arange(gap.start, gap.end) - before) / (after - before)
            t = t.reshape((-1,) + (1,) * (points.ndim - 1))
            points[gap.start:gap.end] = (1 - t) * points[before] + t * points[after]
            continue
        if has_before and has_after:
            long_gaps.append(gap)
            middle = (gap.start + gap.end) // 2
            points[gap.start:middle] = points[before]
            points[middle:gap.end] = points[after]
        elif has_before:
            points[gap.start:] = points[before]
        elif has_after:
            points[:gap.end] = points[after]
    return points, long_gaps


# The MediaPipe landmarks that change sides with each of SWAPPABLE_LIMBS (left, right pairs):
# knee, ankle, heel, foot index; elbow, wrist, pinky, index, thumb.
SWAPPABLE_LANDMARKS = (((25, 26), (27, 28), (29, 30), (31, 32)),
                       ((13, 14), (15, 16), (17, 18), (19, 20), (21, 22)))


def left_right_swaps(points: np.ndarray, valid: np.ndarray, fps: float) -> list[np.ndarray]:
    """Per limb of ``SWAPPABLE_LIMBS``, the frames whose side labels to swap so that the two
    limbs move least over the clip.

    Per limb, a two-state Viterbi pass (labels as detected, or swapped) over the valid frames:
    the cost of a path is how far the two limbs' points move between frames (in torso lengths)
    plus ``SWAP_COST`` per swapped frame, so short flickers between the sides are undone while
    the detector's labels stand wherever motion does not clearly say otherwise (legs crossing in
    a side view cost the same either way)."""
    rows = np.flatnonzero(valid)
    if len(rows) < 3:
        return [rows[:0] for _ in SWAPPABLE_LIMBS]
    seen = points[rows]                                                         # [N, 17, 2]
    torso = np.maximum(np.linalg.norm(seen[:, 8] - seen[:, 0], axis=-1), 1e-3)  # [N]
    swap_cost = np.array([0.0, SWAP_COST * 30.0 / fps])
    flips = []
    for right, left in SWAPPABLE_LIMBS:
        r, l = seen[:, list(right)], seen[:, list(left)]                  # [N, 2, 2]
        states = np.stack([np.stack([r, l], 1), np.stack([l, r], 1)], 1)  # [N, state, side, 2, 2]
        cost, back = swap_cost.copy(), np.zeros((len(rows), 2), int)
        for t in range(1, len(rows)):
            move = np.linalg.norm(states[t][:, None] - states[t - 1][None], axis=-1)
            total = cost[None, :] + move.sum(axis=(-1, -2)) / torso[t]    # [state now, before]
            back[t] = total.argmin(axis=1)
            cost = total.min(axis=1) + swap_cost
        path = np.zeros(len(rows), int)
        path[-1] = cost.argmin()
        for t in range(len(rows) - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        flips.append(rows[path == 1])
    return flips


def _swap(array: np.ndarray, rows: np.ndarray, pairs) -> None:
    """Exchange the entries ``a`` and ``b`` of each pair in ``array`` [F, J, ...] at ``rows``."""
    for a, b in pairs:
        array[rows, a], array[rows, b] = array[rows, b], array[rows, a].copy()


def undo_left_right_swaps(points: np.ndarray, scores: np.ndarray, valid: np.ndarray,
                          fps: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Give each knee/ankle and elbow/wrist pair the side labels that move least over the clip
    (:func:`left_right_swaps`). Returns copies of points [F, 17, 2] and scores [F, 17], and how
    many limb-frames were swapped."""
    points, scores = points.copy(), scores.copy()
    flips = left_right_swaps(points, valid, fps)
    for (right, left), rows in zip(SWAPPABLE_LIMBS, flips):
        _swap(points, rows, zip(right, left))
        _swap(scores, rows, zip(right, left))
    return points, scores, sum(len(rows) for rows in flips)


def people_to_h36m(people) -> list[tuple[np.ndarray, np.ndarray]]:
    """MediaPipe people -> per person ``(h36m points [17,2], scores [17])``."""
    out = []
    for person in people:
        marks = person.image.copy()
        marks[:, 3] = np.minimum(person.image[:, 3], person.presence)  # score per landmark
        out.append(mediapipe_to_h36m(marks))
    return out


def assemble(candidates: list[list[tuple[np.ndarray, np.ndarray]]], fps: float,
             size: tuple[int, int], frame_index: np.ndarray, person: int | None = None,
             max_gap_s: float = MAX_GAP_S, source: str = "mediapipe",
             extras: list[list[dict]] | None = None) -> Keypoints2D:
    """Choose and follow the subject among per-frame candidates, fill gaps, build the file.

    ``extras[f][i]`` may hold per-person arrays (``landmarks``, ``world_landmarks``) that are
    gathered for the subject like the keypoints are.
    """
    picks = track_subject(candidates, fps, person)
    valid = picks >= 0
    count = len(candidates)
    keypoints = np.zeros((count, 17, 2), np.float32)
    scores = np.zeros((count, 17), np.float32)
    gathered: dict[str, np.ndarray] = {}
    for f in np.flatnonzero(valid):
        keypoints[f], scores[f] = candidates[f][picks[f]]
        for name, value in (extras[f][picks[f]].items() if extras else ()):
            if name not in gathered:
                gathered[name] = np.zeros((count,) + value.shape, np.float32)
            gathered[name][f] = value
    flips = left_right_swaps(keypoints, valid, fps)
    for (right, left), landmarks, rows in zip(SWAPPABLE_LIMBS, SWAPPABLE_LANDMARKS, flips):
        _swap(keypoints, rows, zip(right, left))
        _swap(scores, rows, zip(right, left))
        for values in gathered.values():          # MediaPipe's own landmarks change sides too
            _swap(values, rows, landmarks)
    swapped = sum(len(rows) for rows in flips)
    if swapped:
        log.info("Undid %d left/right label swaps of knees, ankles, elbows or wrists.", swapped)
    max_gap = int(round(max_gap_s * fps))
    keypoints, long_gaps = fill_gaps(keypoints, valid, max_gap)
    gathered = {name: fill_gaps(arr, valid, max_gap)[0] for name, arr in gathered.items()}
    for gap in long_gaps:
        log.warning("The subject is missing from frame %d to %d (%.1f s): those frames hold the "
                    "nearest detection and are marked invalid.", frame_index[gap.start],
                    frame_index[gap.end - 1], gap.length / fps)
    return Keypoints2D(keypoints=keypoints, scores=scores, valid=valid, fps=fps, size=size,
                       frame_index=frame_index, source=source,
                       landmarks=gathered.get("landmarks"),
                       world_landmarks=gathered.get("world_landmarks"))


def extract_keypoints(video, pose_model="full", person: int | None = None, max_people: int = 2,
                      start: int = 0, end: int | None = None, max_gap_s: float = MAX_GAP_S,
                      progress: ProgressFn | None = None, jobs: int | None = None) -> Keypoints2D:
    """Run MediaPipe Pose over ``video[start:end]`` and return one subject's keypoints.

    ``pose_model``: lite, full, heavy or a ``.task`` path. ``person``: None for the most
    prominent person at the start, or K for the K-th from the left. ``jobs``: processes that
    detect chunks of the clip at once (None: the cores this process may use; see
    :mod:`.chunks`). Raises LiftRigError for a missing or unreadable video, a bad model, or a
    clip in which nobody is detected.
    """
    from .chunks import (can_start_workers, detect_in_chunks, plan_chunks, usable_cores,
                         warm_up_frames)
    from .pose2d import people_from_array
    from .pose_models import resolve_pose_model
    from .video import cut_short_warning, probe_video

    info = probe_video(video)
    if max_people < 1:
        raise LiftRigError("--max-people must be at least 1.")
    if jobs is not None and jobs < 1:
        raise LiftRigError("--jobs must be at least 1.")
    if start < 0 or (end is not None and end <= start):
        raise LiftRigError(f"The frame range {start}..{end} is empty. Give start < end.")
    total = max(0, (min(end, info.frame_count) if end is not None else info.frame_count) - start)
    model_path = resolve_pose_model(pose_model, progress=progress)
    chunks = plan_chunks(start, start + total, jobs or usable_cores(),
                         warm_up=warm_up_frames(info.fps))
    if len(chunks) > 1 and not can_start_workers():
        log.info("The 2D stage runs in one process here (no worker can import liftrig).")
        chunks = chunks[:1]
    if len(chunks) > 1:
        found = detect_in_chunks(video, model_path, max_people, chunks, end, info.fps, progress)
        indices = found.indices
        detections = [people_from_array(values) for values in found.people]
        if indices and (note := cut_short_warning(video, indices[-1] + 1, end, info)):
            log.warning(note)
    else:
        indices, detections = _detect_in_this_process(video, model_path, max_people, start, end,
                                                      info, total, progress)
    if not indices:
        raise LiftRigError(f"No frames could be read from {video} in the range {start}..{end}.")
    candidates = [people_to_h36m(people) for people in detections]
    extras = [[{"landmarks": p.image, "world_landmarks": p.world} for p in people]
              for people in detections]
    return assemble(candidates, info.fps, info.size, np.array(indices), person, max_gap_s,
                    "mediapipe", extras)


def _detect_in_this_process(video, model_path, max_people, start, end, info, total, progress):
    """Every frame's people, detected by one landmarker: ``(indices, people per frame)``."""
    from .pose2d import PoseDetector
    from .video import iter_frames

    indices, detections = [], []
    with PoseDetector(model_path, max_people=max_people) as detector:
        for frame in iter_frames(video, start, end, info=info):
            detections.append(detector.detect(frame.rgb, frame.timestamp_ms))
            indices.append(frame.index)
            report(progress, "2D keypoints", len(indices), max(total, len(indices)))
    return indices, detections
