# SPDX-License-Identifier: GPL-3.0-or-later
"""From other detectors' body landmarks to the Human3.6M 17-joint layout (numpy only).

Every source (MediaPipe's 33 landmarks, COCO-17, OpenPose BODY_25) is first gathered into the
COCO-17 body points, then :func:`coco17_to_h36m` builds the Human3.6M joints in one place:
pelvis, spine, thorax and head top are derived points, the rest are copied.
"""

from __future__ import annotations

import numpy as np

# COCO-17 order: nose, l_eye, r_eye, l_ear, r_ear, l_shoulder, r_shoulder, l_elbow, r_elbow,
# l_wrist, r_wrist, l_hip, r_hip, l_knee, r_knee, l_ankle, r_ankle.
COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

# Which landmark of each source is each COCO-17 point.
MEDIAPIPE_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
BODY25_TO_COCO17 = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)

# Human3.6M joints copied from a COCO-17 point (the others are derived, see coco17_to_h36m).
_H36M_FROM_COCO = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 9: 0,
                   11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}

# Head top = head centre + HEAD_TOP_EXTENSION * (head centre - thorax). The head centre (mean of
# eyes and ears) sits about 0.17 m above the shoulder line and the crown about 0.12 m above it
# (adult proportions), so the crown is ~0.7 of the neck vector beyond the head centre.
HEAD_TOP_EXTENSION = 0.7


def coco17_to_h36m(points: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 points ``[..., 17, C]`` and scores ``[..., 17]`` -> Human3.6M-17 of the same kind.

    Works for any coordinate dimension C (2D pixels or 3D). A derived joint's score is the
    smallest score of the points it is made from.
    """
    points = np.asarray(points, np.float32)
    scores = np.asarray(scores, np.float32)
    out = np.zeros(points.shape[:-2] + (17, points.shape[-1]), np.float32)
    out_scores = np.zeros(scores.shape[:-1] + (17,), np.float32)
    for h, c in _H36M_FROM_COCO.items():
        out[..., h, :] = points[..., c, :]
        out_scores[..., h] = scores[..., c]

    def mean(*idx):
        return points[..., idx, :].mean(axis=-2), scores[..., idx].min(axis=-1)

    pelvis, pelvis_s = mean(11, 12)
    thorax, thorax_s = mean(5, 6)
    head, head_s = mean(1, 2, 3, 4)
    out[..., 0, :], out_scores[..., 0] = pelvis, pelvis_s
    out[..., 8, :], out_scores[..., 8] = thorax, thorax_s
    out[..., 7, :] = 0.5 * (pelvis + thorax)
    out_scores[..., 7] = np.minimum(pelvis_s, thorax_s)
    out[..., 10, :] = head + HEAD_TOP_EXTENSION * (head - thorax)
    out_scores[..., 10] = np.minimum(head_s, thorax_s)
    return out, out_scores


def mediapipe_to_h36m(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe landmarks ``[..., 33, 4]`` (x, y, z, score) -> H36M xy ``[..., 17, 2]``, scores."""
    landmarks = np.asarray(landmarks, np.float32)
    coco = landmarks[..., MEDIAPIPE_TO_COCO17, :]
    return coco17_to_h36m(coco[..., :2], coco[..., 3])


def body25_to_coco17(points: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenPose BODY_25 points ``[..., 25, C]``, scores ``[..., 25]`` -> COCO-17."""
    idx = list(BODY25_TO_COCO17)
    return np.asarray(points)[..., idx, :], np.asarray(scores)[..., idx]
