# SPDX-License-Identifier: GPL-3.0-or-later
"""Following ONE person through a clip in which the detector sees several (numpy and scipy only).

1. Tracklets: detections are linked frame to frame (optimal assignment) when a detection lies
   where a tracked person should be, measured in that person's body heights. A person who
   vanishes for more than a few frames ends their tracklet.
2. Stitching: a tracklet that starts after another ended continues it if the person could
   have moved that far in the time between (a speed limit in body heights per second) and is
   of a similar size. Someone who was visible at the same time as the subject is, by
   construction, somebody else: that is what keeps the output from jumping between people.
3. The subject is chosen near the start (the most prominent, or the K-th from the left) and
   followed through its chain of stitched tracklets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import LiftRigError

MIN_SCORE = 0.3          # joints below this score take no part in distances and sizes
GATE_BODY_HEIGHTS = 0.5  # largest accepted jump between consecutive frames, in body heights
MAX_MISSING_S = 0.2      # a tracklet survives this long without a detection
STITCH_SPEED = 3.0       # body heights per second a person may cover while unseen (a run)
STITCH_MAX_S = 2.0       # no stitching across longer absences
MIN_TRACKLET = 3         # shorter tracklets (detector flickers, duplicates) are never stitched
SIZE_RATIO_MAX = 1.6     # a person more than this much larger or smaller is somebody else
DUPLICATE_DISTANCE = 0.25  # two detections closer than this (in body heights) are one person

Detection = tuple  # (points [J, 2] pixels, scores [J])


def _confident(points: np.ndarray, scores: np.ndarray) -> np.ndarray:
    good = scores >= MIN_SCORE
    return points[good] if good.sum() >= 3 else points


# Human3.6M segments whose lengths hardly change with pose: torso sides, thighs, shins, arms.
_SEGMENTS = ((11, 4), (14, 1), (4, 5), (5, 6), (1, 2), (2, 3), (11, 12), (12, 13), (14, 15), (15, 16))


def body_height(points: np.ndarray, scores: np.ndarray) -> float:
    """A pose-independent size of one Human3.6M pose ``[17, 2]``, in pixels: about its height.

    Four times the median length of the torso sides and limb segments (each about a quarter of
    a standing adult's height), so a crouch or a flip does not look like somebody smaller.
    """
    lengths = [np.linalg.norm(points[a] - points[b]) for a, b in _SEGMENTS
               if scores[a] >= MIN_SCORE and scores[b] >= MIN_SCORE]
    if len(lengths) < 3:
        lengths = [np.linalg.norm(points[a] - points[b]) for a, b in _SEGMENTS]
    return max(4.0 * float(np.median(lengths)), 1.0)


def prominence(points: np.ndarray, scores: np.ndarray) -> float:
    """How prominent a person is: the area of their confident joints' box times the mean score."""
    pts = _confident(points, scores)
    return float(np.ptp(pts[:, 0]) * np.ptp(pts[:, 1])) * float(scores.mean())


def pose_distance(points_a, scores_a, points_b, scores_b) -> float:
    """Mean pixel distance between two poses over the joints confident in both."""
    both = (scores_a >= MIN_SCORE) & (scores_b >= MIN_SCORE)
    if both.sum() < 3:
        both = np.ones_like(both)
    return float(np.linalg.norm(points_a[both] - points_b[both], axis=-1).mean())


@dataclass
class Tracklet:
    """Consecutive detections of one person: ``picks[frame] = index among that frame's people``."""

    picks: dict[int, int] = field(default_factory=dict)
    heights: list[float] = field(default_factory=list)
    points: np.ndarray | None = None     # the latest pose [J, 2]
    scores: np.ndarray | None = None
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    first_points: np.ndarray | None = None
    first_scores: np.ndarray | None = None
    successor: "Tracklet | None" = None
    predecessor: "Tracklet | None" = None

    @property
    def start(self) -> int:
        return min(self.picks)

    @property
    def end(self) -> int:
        return max(self.picks)

    @property
    def height(self) -> float:
        """A robust body height: the median over the tracklet's detections."""
        return float(np.median(self.heights))

    def add(self, frame: int, index: int, points: np.ndarray, scores: np.ndarray) -> None:
        if self.points is None:
            self.first_points, self.first_scores = points, scores
        else:
            both = (scores >= MIN_SCORE) & (self.scores >= MIN_SCORE)
            if both.sum() >= 3:
                shift = (points[both] - self.points[both]).mean(axis=0) / (frame - self.end)
                self.velocity = 0.5 * self.velocity + 0.5 * shift
        self.picks[frame] = index
        self.heights.append(body_height(points, scores))
        self.points, self.scores = points, scores

    def predict(self, frame: int) -> np.ndarray:
        return self.points + self.velocity * min(frame - self.end, 5)


def distinct_people(people: list[Detection]) -> list[int]:
    """Indices of one frame's detections without duplicates (the detector sometimes finds the
    same person twice): of two poses closer than DUPLICATE_DISTANCE, the less confident goes."""
    order = sorted(range(len(people)), key=lambda i: -float(people[i][1].mean()))
    kept: list[int] = []
    for i in order:
        points, scores = people[i]
        height = body_height(points, scores)
        if all(pose_distance(points, scores, *people[k]) > DUPLICATE_DISTANCE * height
               for k in kept):
            kept.append(i)
    return sorted(kept)


def build_tracklets(candidates: list[list[Detection]], fps: float) -> list[Tracklet]:
    """Link detections frame to frame into tracklets (step 1)."""
    from scipy.optimize import linear_sum_assignment  # here: a --jobs parent starts sooner

    max_missing = max(2, int(round(MAX_MISSING_S * fps)))
    tracklets: list[Tracklet] = []
    active: list[Tracklet] = []
    for frame, people in enumerate(candidates):
        active = [t for t in active if frame - t.end <= max_missing]
        distinct = distinct_people(people)
        cost = np.full((len(active), len(people)), np.inf)
        for a, track in enumerate(active):
            predicted = track.predict(frame)
            height = float(np.median(track.heights[-15:]))
            for p in distinct:
                points, scores = people[p]
                ratio = body_height(points, scores) / height
                if 1 / SIZE_RATIO_MAX <= ratio <= SIZE_RATIO_MAX:
                    relative = pose_distance(points, scores, predicted, track.scores) / height
                    if relative <= GATE_BODY_HEIGHTS:
                        cost[a, p] = relative
        matched = set()
        if cost.size:
            rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
            for a, p in zip(rows, cols):
                if np.isfinite(cost[a, p]):
                    active[a].add(frame, p, *people[p])
                    matched.add(p)
        for p in distinct:
            if p not in matched:
                track = Tracklet()
                track.add(frame, p, *people[p])
                tracklets.append(track)
                active.append(track)
    return tracklets


def stitch_tracklets(tracklets: list[Tracklet], fps: float) -> None:
    """Link each tracklet to the one it most plausibly continues, if any (step 2)."""
    for later in sorted(tracklets, key=lambda t: t.start):
        if len(later.picks) < MIN_TRACKLET:
            continue
        best, best_cost = None, np.inf
        for earlier in tracklets:
            if (earlier is later or earlier.successor is not None or earlier.end >= later.start
                    or len(earlier.picks) < MIN_TRACKLET):
                continue
            gap_s = (later.start - earlier.end) / fps
            ratio = later.height / earlier.height
            if gap_s > STITCH_MAX_S or not 1 / SIZE_RATIO_MAX <= ratio <= SIZE_RATIO_MAX:
                continue
            distance = pose_distance(later.first_points, later.first_scores,
                                     earlier.points, earlier.scores) / earlier.height
            allowed = GATE_BODY_HEIGHTS + STITCH_SPEED * gap_s
            if distance <= allowed and distance / allowed < best_cost:
                best, best_cost = earlier, distance / allowed
        if best is not None:
            best.successor, later.predecessor = later, best


def _people_at_start(tracklets: list[Tracklet], fps: float) -> tuple[int, list[Tracklet]]:
    """The earliest frame, within a second of the first steady detection, that shows the most
    people, and the tracklets of those people (flickering detections do not count)."""
    steady = [t for t in tracklets if len(t.picks) >= MIN_TRACKLET] or tracklets
    first = min(t.start for t in steady)
    best_frame, best_people = first, []
    for frame in range(first, first + max(1, int(round(fps)))):
        people = [t for t in steady if frame in t.picks]
        if len(people) > len(best_people):
            best_frame, best_people = frame, people
    return best_frame, best_people


def choose_subject(people: list[Detection], person: int | None) -> int:
    """Index of the subject among one frame's people.

    ``person=None`` picks the most prominent; ``person=K`` the K-th from the left (0 = leftmost).
    """
    if person is None:
        return int(np.argmax([prominence(p, s) for p, s in people]))
    if not 0 <= person < len(people):
        choices = "0" if len(people) == 1 else f"0 to {len(people) - 1} (0 = leftmost)"
        raise LiftRigError(
            f"--person {person} was asked for, but {len(people)} "
            f"{'person is' if len(people) == 1 else 'people are'} visible at the start of the "
            f"clip. Choose {choices}, or leave --person out to follow the most prominent.")
    centres = [float(np.median(_confident(p, s)[:, 0])) for p, s in people]
    return int(np.argsort(centres)[person])


def track_subject(candidates: list[list[Detection]], fps: float,
                  person: int | None = None) -> np.ndarray:
    """For each frame, the index of the subject among its candidates, or -1 where absent.

    ``candidates[f]`` lists the people detected in frame ``f`` as ``(points [J,2], scores [J])``.
    Raises :class:`LiftRigError` when nobody is detected in the whole clip.
    """
    if not any(candidates):
        raise LiftRigError(
            "No person was detected in any frame. Check that a person is fully visible, or try "
            "--pose-model heavy for small or dark footage.")
    tracklets = build_tracklets(candidates, fps)
    stitch_tracklets(tracklets, fps)
    start, people = _people_at_start(tracklets, fps)
    track = people[choose_subject([candidates[start][t.picks[start]] for t in people], person)]
    while track.predecessor is not None:
        track = track.predecessor
    picks = np.full(len(candidates), -1, np.int64)
    while track is not None:
        for frame, index in track.picks.items():
            picks[frame] = index
        track = track.successor
    return picks
