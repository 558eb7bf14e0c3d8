# SPDX-License-Identifier: GPL-3.0-or-later
"""The 2D stage: a video in, one subject's Human3.6M-17 keypoints out (:class:`liftrig.formats.Keypoints2D`).

Decoding (:mod:`.video`), MediaPipe's PoseLandmarker (:mod:`.pose2d`, models in
:mod:`.pose_models`), landmarks to the 17 joints (:mod:`.landmarks`), following one person
(:mod:`.tracking`), the whole stage (:mod:`.keypoints`), on every core (:mod:`.chunks`), and other
detectors' JSON (:mod:`.external_json`). Importing it stays light: cv2 and mediapipe load where
they are used.
"""
