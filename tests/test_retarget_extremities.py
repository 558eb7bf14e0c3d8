# SPDX-License-Identifier: GPL-3.0-or-later
"""Feet, hands and head turned from MediaPipe's landmarks, on real footage with the real
detector and the shipped lifter."""

import dataclasses
import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from liftrig.errors import LiftRigError
from liftrig.formats import Joints3D
from liftrig.retarget import presets
from liftrig.retarget.bonemap import bind, bone_map_from_dict
from liftrig.retarget.end_to_end import RetargetOptions, retarget_clip

from conftest import POSE_MODEL, VIDEOS

pytestmark = pytest.mark.slow

EXTREMITIES = ("LAnkle", "RAnkle", "LWrist", "RWrist", "Nose")


@pytest.fixture(scope="module")
def outdoor_joints():
    """The outdoor clip's lifted joints, with its keypoints and MediaPipe's landmarks."""
    from liftrig.detect.keypoints import extract_keypoints
    from liftrig.lifter import load_lifter

    kp = extract_keypoints(VIDEOS["outdoor"], pose_model=POSE_MODEL, jobs=1)
    return Joints3D(kp, load_lifter(device="cpu").lift(kp))


def _without_landmarks_of(clip: Joints3D, landmarks: np.ndarray) -> Joints3D:
    """The clip with other landmarks."""
    return Joints3D(dataclasses.replace(clip.keypoints, landmarks=landmarks), clip.joints)


def _turn_from_parent(pose, bone: str) -> np.ndarray:
    """Degrees [F] by which a bone is turned from its rest pose relative to its parent."""
    rig = pose.rig
    b = rig.index(bone)
    rel = np.swapaxes(pose.world_rotations[:, rig.parents[b]], -1, -2) @ pose.world_rotations[:, b]
    return np.degrees(Rotation.from_matrix(rel).magnitude())


def _turn_per_frame(pose, bone: str) -> np.ndarray:
    """Degrees [F - 1] by which a bone's turn from its parent changes from frame to frame."""
    rig = pose.rig
    b = rig.index(bone)
    rel = np.swapaxes(pose.world_rotations[:, rig.parents[b]], -1, -2) @ pose.world_rotations[:, b]
    step = np.swapaxes(rel[:-1], -1, -2) @ rel[1:]
    return np.degrees(Rotation.from_matrix(step).magnitude())


def test_feet_hands_and_head_turn_and_off_keeps_them_at_rest(outdoor_joints):
    on = retarget_clip(outdoor_joints, RetargetOptions())
    off = retarget_clip(outdoor_joints, RetargetOptions(extremities=False))
    report = on.pose.bound.report()
    assert "from MediaPipe's landmarks: LAnkle (left heel, left foot index)" in report
    assert "Nose (nose, ears)" in report
    for bone in EXTREMITIES:
        assert np.median(_turn_from_parent(on.pose, bone)) > 3.0, bone   # they move ...
        if bone != "Nose":                            # ... only when asked (the head bone
            assert _turn_from_parent(off.pose, bone).max() < 1e-6, bone  # has its own rule)
        # Their own motion adds no snaps: the turn from the parent changes smoothly.
        assert np.percentile(_turn_per_frame(on.pose, bone), 90) < 15.0, bone
    b = on.pose.rig.index("Nose")
    between = np.swapaxes(off.pose.world_rotations[:, b], -1, -2) @ on.pose.world_rotations[:, b]
    assert np.median(np.degrees(Rotation.from_matrix(between).magnitude())) > 3.0
    # Without foot locking the 17 points are the body's either way (the extremities turn bones;
    # with locking, the feet's heels and balls are what is planted).
    unlocked = [retarget_clip(outdoor_joints, RetargetOptions(extremities=e, foot_lock=False))
                for e in (True, False)]
    assert np.allclose(unlocked[0].world, unlocked[1].world)
    assert not np.allclose(on.world, off.world)


def test_walking_feet_roll_over_planted_heels_and_balls(outdoor_joints):
    """The outdoor walk: heels and balls of the feet skate less over their contacts with the
    rolling contact than with the ankle planted on feet that follow the shins, and far less than
    without locking; the toes bend only while the ball is down."""
    from liftrig.retarget.contacts import part_skating, planted_weight
    from liftrig.retarget.end_to_end import foot_parts

    clip, fps = outdoor_joints, outdoor_joints.keypoints.fps
    rolled = retarget_clip(clip, RetargetOptions())
    contacts = rolled.foot_contacts.contacts                      # [F, 2 legs, heel/ball]
    assert 0.3 < contacts.mean() < 0.9
    assert "LToe (flat on the floor while the left foot's ball is planted)" in \
        rolled.pose.bound.report()

    def skating(options):
        return part_skating(foot_parts(retarget_clip(clip, options).pose), contacts, fps)
    rolling = part_skating(foot_parts(rolled.pose), contacts, fps)
    ankle_only = skating(RetargetOptions(extremities=False))
    unlocked = skating(RetargetOptions(foot_lock=False))
    assert (rolling < 0.7 * ankle_only).all(), (rolling, ankle_only)
    assert (rolling < 0.3 * unlocked).all(), (rolling, unlocked)
    for toe, leg in (("LToe", 0), ("RToe", 1)):
        turn = _turn_from_parent(rolled.pose, toe)
        down = planted_weight(contacts[:, leg, 1], fps)
        assert turn[down == 0].max() < 1e-6                         # at rest while the ball is up
        assert np.percentile(turn[down > 0.99], 90) > 5.0           # flat on the floor at toe-off


def test_unreliable_landmarks_ease_to_the_parents_orientation(outdoor_joints):
    """Where the left foot's heel and toe are not seen (visibility 0 for 40 frames), the left
    foot keeps its shin's orientation, and it eases in and out instead of snapping."""
    clip = outdoor_joints
    blind = clip.keypoints.landmarks.copy()
    hidden = slice(100, 140)
    blind[hidden, 29, 3] = blind[hidden, 31, 3] = 0.0     # left heel, left foot index
    pose = retarget_clip(_without_landmarks_of(clip, blind), RetargetOptions()).pose
    seen = retarget_clip(clip, RetargetOptions()).pose
    turn = _turn_from_parent(pose, "LAnkle")
    assert turn[110:130].max() < 1.0                      # the shin's orientation, well inside
    assert _turn_from_parent(seen, "LAnkle")[110:130].max() > 5.0   # (where it would turn)
    steps = _turn_per_frame(pose, "LAnkle")[95:145]
    assert steps.max() < 12.0, steps.max()                 # eased, not snapped
    # The other extremities do not notice (without foot locking: with it, both feet stand on
    # the one body that planting the left foot moves).
    unlocked = RetargetOptions(foot_lock=False)
    blind_pose = retarget_clip(_without_landmarks_of(clip, blind), unlocked).pose
    seen_pose = retarget_clip(clip, unlocked).pose
    assert np.allclose(_turn_from_parent(blind_pose, "RAnkle"),
                       _turn_from_parent(seen_pose, "RAnkle"))


@pytest.mark.parametrize("name", ["mixamo", "ue5", "rigify", "rigify-metarig"])
def test_preset_rigs_get_feet_hands_and_head(outdoor_joints, name):
    pose = retarget_clip(outdoor_joints, RetargetOptions(), name).pose
    roles = dict(pose.bound.extremities)
    assert sorted(roles.values()) == sorted(["left-foot", "right-foot", "left-hand",
                                             "right-hand", "head", "left-toe", "right-toe"])
    for b, role in roles.items():
        turns = _turn_from_parent(pose, pose.rig.bone_names[b])
        if role.endswith("toe"):                   # only while the ball of the foot is down
            assert np.percentile(turns, 90) > 3.0, role
        else:
            assert np.median(turns) > 3.0, role


def test_json_maps_name_their_extremities():
    mixamo = presets.preset("mixamo")
    data = mixamo.bone_map.to_dict()
    assert data["extremities"]["mixamorig:LeftFoot"] == "left-foot"
    again = bone_map_from_dict(json.loads(json.dumps(data)))
    assert again == mixamo.bone_map
    assert bind(mixamo.rig, again).extremities == mixamo.extremities
    data["extremities"]["mixamorig:LeftFoot"] = "left-paw"
    with pytest.raises(LiftRigError, match="given the text 'left-paw'; a role is one of left-foot"):
        bone_map_from_dict(data)
    data["extremities"] = {"mixamorig:LeftPaw": "left-foot"}
    with pytest.raises(LiftRigError, match="'mixamorig:LeftPaw', which rig"):
        bind(mixamo.rig, bone_map_from_dict(data))


def test_liftrig_lift_to_bvh_turns_them_unless_off(outdoor_joints, tmp_path):
    from liftrig.cli import main
    from liftrig.retarget.bvh import read_bvh

    joints = tmp_path / "outdoor.npz"
    outdoor_joints.save(joints)
    files = {}
    for switch in ("on", "off"):
        files[switch] = tmp_path / f"{switch}.bvh"
        assert main(["lift", str(joints), "-o", str(files[switch]), "-q",
                     "--extremities", switch]) == 0
    on, off = read_bvh(files["on"]), read_bvh(files["off"])
    ankle = on.skeleton.index("LAnkle")
    first = sum(len(c) for c in on.skeleton.channels[:ankle])
    columns = [first + k for k, name in enumerate(on.skeleton.channels[ankle])
               if name.endswith("rotation")]
    assert np.abs(off.values[:, columns]).max() < 1e-3        # at rest relative to the shin
    assert np.abs(on.values[:, columns]).max() > 10.0         # turned, in degrees
