# SPDX-License-Identifier: GPL-3.0-or-later
"""Other bodies for the same motion: mocap re-posed on randomly drawn adult proportions.

Every Bandai clip was performed on one skeleton (hips 129 mm apart, shoulders 205 mm, a shin
longer than the thigh), so a lifter trained on it alone keeps those proportions whatever body it
is shown. Here each training window is re-posed on a body drawn from adult anthropometry:

- stature 1.45-2.00 m (uniform);
- each segment a fraction of stature, after Drillis & Contini's segment table (as tabulated in
  D. A. Winter, *Biomechanics and Motor Control of Human Movement*, 4th ed., 2009, fig. 4.1):
  thigh 0.245 H, shank 0.246 H, forearm 0.146 H, upper arm 0.175 H (the table's 0.186 H is
  measured from the acromion, which sits above the shoulder joint's centre), hip centre to shoulder
  centre 0.288 H (shoulder height 0.818 H less greater trochanter height 0.530 H), shoulder line
  to nose about 0.09 H;
- joint-centre widths: hips 0.100 H (hip joint centres 36 % of the ASIS distance either side of
  the midline, Bell, Pedersen & Brand 1990, with ASIS distance about 0.14 H in ANSUR II's
  adults), glenohumeral centres 0.200 H (ANSUR II 2012 biacromial breadth, 0.237 H in men and
  0.225 H in women, less about 2 cm a side from the acromion to the joint centre);
- independent variation of each ratio around those means with the spread ANSUR II shows for
  adult length-to-stature ratios (coefficient of variation 4 % for limb segments, 5 % for the
  torso, 6 % for the shoulders, 8 % for the hips and the neck), and a sex difference in the
  widths (women's hips 4 % wider, shoulders 4 % narrower, relative to stature).

The mocap's own rotations are kept: a bone vector of the 17-point tree is its parent's world
rotation times its rest offset, so scaling the vector is forward kinematics with that offset
rescaled. Re-chaining from the pelvis gives the new body; the root path is scaled with the legs
(a longer leg takes a longer stride and carries the pelvis higher), so the feet still meet the
floor where they did. A body whose factors are all one reproduces the input exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ...h36m import JOINT_INDEX as J
from ...h36m import JOINT_NAMES, PARENTS

# COCO-17 face points (nose, eyes, ears) hang from the nose; the limbs are H36M points.
COCO_FROM_H36M = {5: "LShoulder", 6: "RShoulder", 7: "LElbow", 8: "RElbow", 9: "LWrist",
                  10: "RWrist", 11: "LHip", 12: "RHip", 13: "LKnee", 14: "RKnee",
                  15: "LAnkle", 16: "RAnkle"}


@dataclass(frozen=True)
class BodyScales:
    """Per-segment length factors relative to the mocap actor (1 = the actor's own)."""

    hip_width: float = 1.0     # pelvis -> each hip
    thigh: float = 1.0         # hip -> knee
    shin: float = 1.0          # knee -> ankle
    torso: float = 1.0         # pelvis -> spine -> thorax
    neck: float = 1.0          # thorax -> nose
    head: float = 1.0          # nose -> head top, and the face points about the nose
    shoulder_width: float = 1.0  # thorax -> each shoulder
    upper_arm: float = 1.0     # shoulder -> elbow
    forearm: float = 1.0       # elbow -> wrist

    def segment(self, child: str) -> float:
        """The factor of the bone that ends at ``child``."""
        return getattr(self, SEGMENT_OF[child])

    def is_identity(self) -> bool:
        return all(getattr(self, f.name) == 1.0 for f in fields(self))


SEGMENT_OF = {"RHip": "hip_width", "LHip": "hip_width", "RKnee": "thigh", "LKnee": "thigh",
              "RAnkle": "shin", "LAnkle": "shin", "Spine": "torso", "Thorax": "torso",
              "Nose": "neck", "HeadTop": "head", "LShoulder": "shoulder_width",
              "RShoulder": "shoulder_width", "LElbow": "upper_arm", "RElbow": "upper_arm",
              "LWrist": "forearm", "RWrist": "forearm"}


@dataclass(frozen=True)
class BodyRanges:
    """The adult population bodies are drawn from (see the module docstring for sources).

    Each ratio is (mean fraction of stature, coefficient of variation); widths are joint
    centres. ``head`` is relative to the actor's own head (scaled with stature)."""

    stature_m: tuple[float, float] = (1.45, 2.00)
    hip_width: tuple[float, float] = (0.100, 0.08)
    thigh: tuple[float, float] = (0.245, 0.04)
    shin: tuple[float, float] = (0.246, 0.04)
    torso: tuple[float, float] = (0.288, 0.05)
    neck: tuple[float, float] = (0.090, 0.08)
    shoulder_width: tuple[float, float] = (0.200, 0.06)
    upper_arm: tuple[float, float] = (0.175, 0.04)
    forearm: tuple[float, float] = (0.146, 0.04)
    head_cv: float = 0.05
    sex_width_difference: float = 0.04   # women: hips wider, shoulders narrower, by this share


def segment_lengths(h36m: np.ndarray) -> dict[str, float]:
    """The actor's segment lengths (median over frames) in metres, by :class:`BodyScales` field;
    widths are the distance between the two sides' joints, the torso pelvis to thorax."""
    def length(a, b):
        return float(np.median(np.linalg.norm(h36m[:, J[a]] - h36m[:, J[b]], axis=-1)))

    def mean_side(a, b):
        return 0.5 * (length("L" + a, "L" + b) + length("R" + a, "R" + b))

    return {"hip_width": length("LHip", "RHip"), "thigh": mean_side("Hip", "Knee"),
            "shin": mean_side("Knee", "Ankle"), "torso": length("Pelvis", "Thorax"),
            "neck": length("Thorax", "Nose"), "shoulder_width": length("LShoulder", "RShoulder"),
            "upper_arm": mean_side("Shoulder", "Elbow"), "forearm": mean_side("Elbow", "Wrist")}


def actor_stature(lengths: dict[str, float]) -> float:
    """The actor's stature estimated from the leg (hip joint to ankle is 0.491 H in Winter's
    table: 0.530 H greater trochanter less 0.039 H ankle height)."""
    return (lengths["thigh"] + lengths["shin"]) / 0.491


def sample_body(rng, h36m: np.ndarray, ranges: BodyRanges = BodyRanges()) -> BodyScales:
    """Factors that turn the actor of ``h36m`` [T, 17, 3] into a body drawn from ``ranges``."""
    lengths = segment_lengths(h36m)
    stature = rng.uniform(*ranges.stature_m)
    woman = rng.random() < 0.5
    width = {"hip_width": 1 + ranges.sex_width_difference if woman else 1.0,
             "shoulder_width": 1 - ranges.sex_width_difference if woman else 1.0}
    factors = {}
    for name, actor in lengths.items():
        mean, cv = getattr(ranges, name)
        drawn = stature * mean * width.get(name, 1.0) * np.exp(rng.normal(0, cv))
        factors[name] = float(drawn / max(actor, 1e-3))
    factors["head"] = float(stature / actor_stature(lengths) * np.exp(rng.normal(0, ranges.head_cv)))
    return BodyScales(**factors)


def repose(h36m: np.ndarray, coco: np.ndarray, body: BodyScales) -> tuple[np.ndarray, np.ndarray]:
    """The same motion on another body: H36M points [T, 17, 3] and COCO-17 landmarks [T, 17, 3]
    (world, Z up) with every bone vector scaled by its segment's factor and re-chained from the
    pelvis. The pelvis path is scaled by the legs' factor about the floor below the window's
    first frame (the floor: the lowest ankle less a typical ankle height)."""
    if body.is_identity():
        return h36m, coco
    h36m = np.asarray(h36m, np.float64)
    coco = np.asarray(coco, np.float64)
    new = np.empty_like(h36m)
    old_leg = segment_lengths(h36m)
    leg = ((body.thigh * old_leg["thigh"] + body.shin * old_leg["shin"])
           / max(old_leg["thigh"] + old_leg["shin"], 1e-6))
    pelvis = h36m[:, J["Pelvis"]]
    floor = np.array([pelvis[0, 0], pelvis[0, 1],
                      h36m[:, [J["LAnkle"], J["RAnkle"]], 2].min() - 0.08])
    new[:, J["Pelvis"]] = floor + leg * (pelvis - floor)
    for c in range(1, len(JOINT_NAMES)):  # parents come first (h36m.PARENTS)
        p = PARENTS[c]
        new[:, c] = new[:, p] + body.segment(JOINT_NAMES[c]) * (h36m[:, c] - h36m[:, p])
    coco_new = np.empty_like(coco)
    nose_old, nose_new = h36m[:, J["Nose"]], new[:, J["Nose"]]
    for k in range(5):  # nose, eyes, ears: the head scaled about the nose
        coco_new[:, k] = nose_new + body.head * (coco[:, k] - nose_old)
    for k, name in COCO_FROM_H36M.items():
        coco_new[:, k] = new[:, J[name]] + (coco[:, k] - h36m[:, J[name]])
    return new.astype(np.float32), coco_new.astype(np.float32)
