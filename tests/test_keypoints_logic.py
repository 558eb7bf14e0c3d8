# SPDX-License-Identifier: GPL-3.0-or-later
"""The 2D stage's pure logic on hand-made data: landmark mapping, tracking, gap filling."""

import numpy as np
import pytest

from liftrig.errors import LiftRigError
from liftrig.h36m import FLIP_PERMUTATION, JOINT_NAMES
from liftrig.detect.keypoints import fill_gaps, find_gaps
from liftrig.detect.landmarks import (BODY25_TO_COCO17, HEAD_TOP_EXTENSION, MEDIAPIPE_TO_COCO17,
                                      coco17_to_h36m, mediapipe_to_h36m)
from liftrig.detect.tracking import track_subject


def _mediapipe_pose(rng):
    marks = np.zeros((33, 4), np.float32)
    marks[:, :3] = rng.normal(size=(33, 3)) * 100
    marks[:, 3] = rng.uniform(0.5, 1.0, 33)
    return marks


def test_mediapipe_mapping_follows_the_issue_table():
    marks = _mediapipe_pose(np.random.default_rng(1))
    h36m, scores = mediapipe_to_h36m(marks)
    xy = marks[:, :2]
    copies = {"RHip": 24, "RKnee": 26, "RAnkle": 28, "LHip": 23, "LKnee": 25, "LAnkle": 27,
              "Nose": 0, "LShoulder": 11, "LElbow": 13, "LWrist": 15, "RShoulder": 12,
              "RElbow": 14, "RWrist": 16}
    for name, mp_index in copies.items():
        j = JOINT_NAMES.index(name)
        np.testing.assert_array_equal(h36m[j], xy[mp_index])
        assert scores[j] == marks[mp_index, 3]
    pelvis, thorax = xy[[23, 24]].mean(0), xy[[11, 12]].mean(0)
    np.testing.assert_allclose(h36m[0], pelvis, rtol=1e-6)
    np.testing.assert_allclose(h36m[8], thorax, rtol=1e-6)
    np.testing.assert_allclose(h36m[7], (pelvis + thorax) / 2, rtol=1e-6)
    head = xy[[2, 5, 7, 8]].mean(0)  # eyes and ears
    np.testing.assert_allclose(h36m[10], head + HEAD_TOP_EXTENSION * (head - thorax), rtol=1e-5)
    assert scores[0] == min(marks[23, 3], marks[24, 3])


def test_head_top_sits_above_the_head_of_an_upright_person():
    coco = np.zeros((17, 2), np.float32)
    coco[[1, 2, 3, 4]] = [[95, 100], [105, 100], [90, 102], [110, 102]]  # eyes, ears
    coco[[5, 6]] = [[80, 140], [120, 140]]                                # shoulders
    h36m, _ = coco17_to_h36m(coco, np.ones(17))
    assert h36m[10, 1] < 100 - 20 and abs(h36m[10, 0] - 100) < 1e-4


def test_every_source_maps_left_to_left():
    """Mirroring a COCO pose left/right mirrors the Human3.6M joints the same way."""
    rng = np.random.default_rng(2)
    coco = rng.normal(size=(17, 2)).astype(np.float32)
    coco_flip_perm = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    a, _ = coco17_to_h36m(coco, np.ones(17))
    b, _ = coco17_to_h36m(coco[coco_flip_perm], np.ones(17))
    np.testing.assert_allclose(a[list(FLIP_PERMUTATION)], b, atol=1e-6)
    assert len(set(MEDIAPIPE_TO_COCO17)) == len(set(BODY25_TO_COCO17)) == 17


def _walker(frames, x0, vx, y=500.0, height=400.0):
    """A crude upright Human3.6M pose sliding sideways: [frames, 17, 2]."""
    template = np.array([[0, 0], [-20, 0], [-20, 95], [-20, 190], [20, 0], [20, 95], [20, 190],
                         [0, -60], [0, -120], [0, -150], [0, -200], [25, -120], [30, -60],
                         [30, 0], [-25, -120], [-30, -60], [-30, 0]], np.float32) * height / 400
    xs = x0 + vx * np.arange(frames)
    return template[None] + np.stack([xs, np.full(frames, y)], -1)[:, None].astype(np.float32)


def _candidates(*tracks_with_presence):
    """Per-frame candidate lists from (poses [F,17,2], present [F] bool) pairs, shuffled order."""
    frames = len(tracks_with_presence[0][0])
    rng = np.random.default_rng(3)
    out = []
    for f in range(frames):
        people = [(poses[f], np.ones(17, np.float32)) for poses, present in tracks_with_presence
                  if present[f]]
        rng.shuffle(people)
        out.append(people)
    return out


def test_tracking_never_takes_someone_seen_at_the_same_time():
    """A leaves at frame 40; B, visible all along, walks through A's last position later."""
    frames = 90
    a = _walker(frames, 300, 4)
    b = _walker(frames, 900, -6)  # passes x=460 (A's last x) around frame 73
    present_a = np.arange(frames) < 40
    candidates = _candidates((a, present_a), (b, np.ones(frames, bool)))
    picks = track_subject(candidates, fps=30, person=0)  # 0 = leftmost = A
    assert (picks[:40] >= 0).all() and (picks[40:] == -1).all()
    chosen = np.array([candidates[f][picks[f]][0][0, 0] for f in range(40)])
    np.testing.assert_allclose(chosen, a[:40, 0, 0])
    assert track_subject(candidates, fps=30, person=1)[60:].min() >= 0  # B is followed throughout


def test_tracking_picks_the_subject_up_again_after_an_occlusion():
    """A hides for 20 frames (0.67 s) and reappears a little further on; B is elsewhere."""
    frames = 80
    a = _walker(frames, 200, 5)
    b = _walker(frames, 1400, 0, height=300)
    present_a = (np.arange(frames) < 30) | (np.arange(frames) >= 50)
    candidates = _candidates((a, present_a), (b, np.ones(frames, bool)))
    picks = track_subject(candidates, fps=30)  # A is the most prominent (larger)
    assert ((picks >= 0) == present_a).all()
    xs = np.array([candidates[f][picks[f]][0][0, 0] for f in np.flatnonzero(present_a)])
    np.testing.assert_allclose(xs, a[present_a, 0, 0])


def test_duplicate_detections_are_one_person():
    frames = 30
    a = _walker(frames, 200, 3)
    dup = a + 2.0  # the detector reports A twice, slightly apart
    candidates = _candidates((a, np.ones(frames, bool)), (dup, np.arange(frames) % 3 == 0))
    with pytest.raises(LiftRigError, match="1 person is visible"):
        track_subject(candidates, fps=30, person=1)
    assert (track_subject(candidates, fps=30) >= 0).all()


def test_nobody_is_a_clear_error():
    with pytest.raises(LiftRigError, match="No person was detected"):
        track_subject([[] for _ in range(10)], fps=30)


def test_gaps_short_interpolated_long_held_and_reported():
    points = np.arange(20, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    valid = np.ones(20, bool)
    valid[[0, 1]] = False          # leading: held from frame 2
    valid[5:7] = False             # short: interpolated
    valid[10:16] = False           # long: held from both sides, reported
    filled, long_gaps = fill_gaps(np.where(valid[:, None], points, 0), valid, max_gap=3)
    assert [(g.start, g.end) for g in find_gaps(valid)] == [(0, 2), (5, 7), (10, 16)]
    assert [(g.start, g.end) for g in long_gaps] == [(10, 16)]
    np.testing.assert_allclose(filled[:2, 0], [2, 2])
    np.testing.assert_allclose(filled[5:7, 0], [5, 6])
    np.testing.assert_allclose(filled[10:16, 0], [9, 9, 9, 16, 16, 16])
    np.testing.assert_allclose(filled[valid], points[valid])


@pytest.mark.parametrize("fps", [30.0, 60.0])
def test_left_right_flickers_are_undone_and_crossing_legs_left_alone(bandai_walk, film, fps):
    """A real walk seen from the side (its ankles and wrists pass each other every step), with
    detector-like noise: undo_left_right_swaps changes nothing; after short swaps of a knee and
    ankle or elbow and wrist are injected (1-4 frames, as MediaPipe's flickers), it undoes them
    all and swaps nothing else."""
    from liftrig.detect.keypoints import SWAPPABLE_LIMBS, undo_left_right_swaps
    from liftrig.retarget.mocap_map import mocap_to_h36m
    from liftrig.retarget.bvh import read_bvh

    motion = read_bvh(bandai_walk)
    world = mocap_to_h36m(motion)[::int(round(motion.fps / fps)) or 1]
    kp, *_ = film(world, fps, position=(0.5, -5.0, 1.2), target=(0.0, 0.0, 1.0))
    rng = np.random.default_rng(7)
    truth = kp.keypoints + rng.normal(0, 2.0, kp.keypoints.shape)   # ~1 % of the body height
    valid = np.ones(len(truth), bool)
    valid[40:43] = False                                             # a gap is skipped over
    same, _, count = undo_left_right_swaps(truth, kp.scores, valid, fps)
    assert count == 0 and np.array_equal(same, truth)

    scores = np.tile(np.linspace(0.5, 1.0, 17, dtype=np.float32), (len(truth), 1))
    swapped, swapped_scores = truth.copy(), scores.copy()
    injected = np.zeros((len(truth), len(SWAPPABLE_LIMBS)), bool)
    for start in range(10, len(truth) - 10, 23):
        limb = int(rng.integers(len(SWAPPABLE_LIMBS)))
        frames = slice(start, start + int(rng.integers(1, 5)))
        right, left = SWAPPABLE_LIMBS[limb]
        swapped[frames, list(right + left)] = truth[frames, list(left + right)]
        swapped_scores[frames, list(right + left)] = scores[frames, list(left + right)]
        injected[frames, limb] = True
    fixed, fixed_scores, count = undo_left_right_swaps(swapped, swapped_scores, valid, fps)
    assert injected.sum() > 10 and count == injected.sum()
    assert np.array_equal(fixed, truth)
    assert np.array_equal(fixed_scores, scores)          # scores travel with their points


def test_mediapipe_landmarks_change_sides_with_the_keypoints(bandai_walk, film):
    """When a knee and ankle flicker to the other side, the subject's heel, foot index (and
    knee and ankle) landmarks kept in the file are put back with them: the feet turned from
    them must be the feet of the legs they belong to."""
    from liftrig.detect.keypoints import SWAPPABLE_LANDMARKS, assemble
    from liftrig.retarget.bvh import read_bvh
    from liftrig.retarget.mocap_map import mocap_to_h36m

    motion = read_bvh(bandai_walk)
    world = mocap_to_h36m(motion)[:90]
    kp, *_ = film(world, motion.fps, position=(0.5, -5.0, 1.2), target=(0.0, 0.0, 1.0))
    marks = np.random.default_rng(3).normal(size=(len(world), 33, 4)).astype(np.float32)
    points, scores = kp.keypoints.copy(), np.ones((len(world), 17), np.float32)
    seen_marks = marks.copy()
    flick = slice(30, 33)                                      # the left leg detected as the right
    points[flick, [2, 3, 5, 6]] = kp.keypoints[flick, [5, 6, 2, 3]]
    for a, b in SWAPPABLE_LANDMARKS[0]:
        seen_marks[flick, [a, b]] = marks[flick, [b, a]]
    candidates = [[(points[f], scores[f])] for f in range(len(world))]
    extras = [[{"landmarks": seen_marks[f]}] for f in range(len(world))]
    out = assemble(candidates, motion.fps, kp.size, np.arange(len(world)), extras=extras)
    assert np.allclose(out.keypoints, kp.keypoints)
    assert np.array_equal(out.landmarks, marks)
