# SPDX-License-Identifier: GPL-3.0-or-later
"""The bone solver on synthetic rigs posed with known rotations; presets, bone maps, detection."""

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from liftrig.errors import LiftRigError
from liftrig import h36m
from liftrig.h36m import JOINT_NAMES
from liftrig.retarget import presets, solver
from liftrig.retarget.bonemap import bind, bone_map_from_dict, load_bone_map_json
from liftrig.retarget.bvh import forward_kinematics, format_bvh, parse_bvh, read_bvh
from liftrig.retarget.mocap_map import mocap_to_h36m
from liftrig.retarget.end_to_end import RetargetOptions, retarget_points
from liftrig.retarget.export import Z_UP_TO_Y_UP, pose_to_bvh
from liftrig.retarget.rig import Rig
from liftrig.retarget.rotations import angle_between_rotations, quat_from_matrix

OTHER_RIGS = ("mixamo", "ue5", "rigify", "rigify-metarig")


def random_quats(frames, bones, seed):
    xyzw = Rotation.random(frames * bones, random_state=seed).as_quat()
    return np.concatenate([xyzw[:, 3:], xyzw[:, :3]], -1).reshape(frames, bones, 4)


def posed_points(bound, quats, translation):
    """Forward kinematics of ``bound.rig`` with local rotations (w, x, y, z) -> its 17 points."""
    world = solver.world_from_local(bound.rig, quats)
    heads = solver.forward_kinematics(bound.rig, world, 0, translation)
    return solver.rig_points(bound, world, heads)


def odd_builtin(seed=0):
    """LiftRig's skeleton with random proportions (a subject unlike the canonical one)."""
    rng = np.random.default_rng(seed)
    pts = presets.canonical_h36m()[None]
    scaled = pts * rng.uniform(0.7, 1.3, size=(1, 17, 1))   # distort, then let fitting symmetrise
    return presets.fit_builtin(scaled)


def test_builtin_round_trip_reproduces_joints():
    """Random rotations (any, not only human ones) -> FK -> solve -> FK: within 1e-4 m."""
    bound = odd_builtin()
    frames = 64
    rng = np.random.default_rng(1)
    pts = posed_points(bound, random_quats(frames, bound.rig.num_bones, 2),
                       rng.normal(size=(frames, 3)))
    pose = solver.solve_pose(bound, pts)
    assert np.abs(pose.points() - pts).max() < 1e-4
    # The BVH of LiftRig's skeleton gives the 17 points back by forward kinematics.
    motion = parse_bvh(format_bvh(pose_to_bvh(pose, 30.0, units="m"), precision=8))
    names = motion.skeleton.names
    assert sorted(names) == sorted(presets.BUILTIN_BONES)
    assert motion.skeleton.has_end.sum() == 5
    fk = forward_kinematics(motion).positions @ Z_UP_TO_Y_UP
    assert np.abs(fk[:, [names.index(n) for n in JOINT_NAMES]] - pts).max() < 1e-4


def _bone_direction_errors(points, motion) -> np.ndarray:
    """Degrees between each Human3.6M bone [F, 16] of ``points`` and of the BVH's forward
    kinematics (each point is the head of the BVH joint named after it)."""
    names = motion.skeleton.names
    fk = (forward_kinematics(motion).positions @ Z_UP_TO_Y_UP)[:, [names.index(n)
                                                                   for n in JOINT_NAMES]]
    errors = []
    for parent, child in h36m.BONES:
        want, got = points[:, child] - points[:, parent], fk[:, child] - fk[:, parent]
        cos = np.sum(want * got, -1) / np.linalg.norm(want, axis=-1) / np.linalg.norm(got, axis=-1)
        errors.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return np.stack(errors, -1)


@pytest.mark.parametrize("clip", ["bandai", "cmu"])
def test_every_segment_of_the_builtin_skeleton_turns_on_its_own(clip, bandai_walk, cmu_clips):
    """Mocap joints -> LiftRig's skeleton (no smoothing, no foot locking) -> BVH -> forward
    kinematics: every bone points where the input's does (the hip line against the spine, the
    shoulders against the neck too: each has its own joint), on the actors' body and on CMU's."""
    path = bandai_walk if clip == "bandai" else cmu_clips["salsa"]
    motion = read_bvh(path)
    world = mocap_to_h36m(motion)[:: max(1, round(motion.fps / 30))][:300]
    result = retarget_points(world, 30.0, RetargetOptions(smoothing=0.0, foot_lock=False))
    bvh = parse_bvh(format_bvh(pose_to_bvh(result.pose, 30.0, units="m"), precision=6))
    errors = _bone_direction_errors(world, bvh)
    assert errors.mean() <= 2.0 and np.percentile(errors, 99) <= 8.0, \
        (errors.mean(), np.percentile(errors, 99), errors.mean(axis=0).round(1))


def test_solved_rotations_reproduce_blender_style_local_values():
    """pose.rotations / pose.location are Blender's pose-bone values: recomposed with the
    rest frames (random rolls) they give back the same posed bones."""
    bound = presets.preset("mixamo")
    rig = bound.rig
    rolls = np.random.default_rng(3).uniform(-np.pi, np.pi, rig.num_bones)
    rolled = Rig.from_bones("rolled", [(b, rig.bone_names[p] if p >= 0 else None, h, t)
                                       for b, p, h, t in zip(rig.bone_names, rig.parents,
                                                             rig.rest_heads, rig.rest_tails)],
                            rolls)
    rolled_bound = bind(rolled, bound.bone_map)
    builtin = presets.fit_builtin()
    pts = posed_points(builtin, random_quats(20, builtin.rig.num_bones, 4), np.zeros((20, 3)))
    a = solver.solve_pose(bound, pts)
    b = solver.solve_pose(rolled_bound, pts)
    np.testing.assert_allclose(a.heads, b.heads, atol=1e-9)      # rolls change nothing posed
    assert np.abs(a.rotations - b.rotations).max() > 0.1         # ... but the local values
    rigify = solver.solve_pose(presets.preset("rigify"), pts)    # translation on a child bone
    for pose in (a, b, rigify):
        world = solver.world_from_local(pose.rig, pose.rotations)
        np.testing.assert_allclose(world, pose.world_rotations, atol=1e-9)
        t = pose.bound.translation_bone                          # its parent stays at rest
        head = pose.rig.rest_heads[t] + pose.location @ pose.rig.rest_rotations[t].T
        np.testing.assert_allclose(head, pose.heads[:, t], atol=1e-9)


@pytest.mark.parametrize("name", OTHER_RIGS)
def test_rigs_of_other_proportions_follow_every_bone_direction(name):
    """Joints from a differently proportioned skeleton: each driven bone of the preset rig
    points where the subject's segment points, within 1 degree; the pelvis lands on target."""
    bound = presets.preset(name)
    odd = odd_builtin(5)
    pts = posed_points(odd, random_quats(50, odd.rig.num_bones, 6), np.zeros((50, 3)))
    pose = solver.solve_pose(bound, pts)
    tails = pose.tails()
    checked = 0
    for b, r in enumerate(bound.rules):
        if r is None:
            continue
        want = r.aim[1](pts) - r.aim[0](pts)
        rest_aim = r.aim[1](bound.rest_points) - r.aim[0](bound.rest_points)
        got = pose.world_rotations[:, b] @ rest_aim
        own = (np.allclose(r.aim[0](bound.rest_points), bound.rig.rest_heads[b])
               and np.allclose(r.aim[1](bound.rest_points), bound.rig.rest_tails[b]))
        if own:        # a limb bone whose head and tail are the points: check the bone itself
            got = tails[:, b] - pose.heads[:, b]
            checked += 1
        cos = np.sum(want * got, -1) / np.linalg.norm(want, axis=-1) / np.linalg.norm(got, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0, bound.rig.bone_names[b]
    assert checked >= 8                                         # arms and legs at least
    np.testing.assert_allclose(pose.points()[:, 0], pts[:, 0], atol=1e-9)


def test_twist_is_stable_when_limbs_straighten():
    """A smooth clip in which elbows and knees pass through straight while every joint turns up
    to 70 degrees from rest: no bone's rotation jumps between frames (no 180-degree flips)."""
    bound = presets.fit_builtin()
    rig = bound.rig
    rotvec = Rotation.random(6 * rig.num_bones, random_state=7).as_rotvec()
    rotvec *= np.radians(70) / np.linalg.norm(rotvec, axis=-1, keepdims=True)
    keys = np.roll(Rotation.from_rotvec(rotvec).as_quat(), 1, -1).reshape(6, rig.num_bones, 4)
    bend = {"LElbow": (1, 0), "RElbow": (1, 0), "LKnee": (0, 0), "RKnee": (0, 0)}
    frames = 300
    times = np.linspace(0, 5, frames)
    quats = np.empty((frames, rig.num_bones, 4))
    for b in range(rig.num_bones):
        xyzw = np.concatenate([keys[:, b, 1:], keys[:, b, :1]], -1)
        quats[:, b] = np.roll(Slerp(np.arange(6), Rotation.from_quat(xyzw))(times).as_quat(), 1, -1)
    for name in bend:                      # hinge joints bend 0 -> 90 -> 0 deg, about local X
        angle = np.radians(90) * np.abs(np.sin(np.pi * times / 2.5))
        quats[:, rig.index(name)] = np.stack([np.cos(angle / 2), np.sin(angle / 2),
                                              0 * angle, 0 * angle], -1)
    pts = posed_points(bound, quats, np.zeros((frames, 3)))
    step_in = angle_between_rotations(solver.world_from_local(rig, quats)[1:],
                                      solver.world_from_local(rig, quats)[:-1]).max()
    pose = solver.solve_pose(bound, pts)
    step_out = angle_between_rotations(pose.world_rotations[1:], pose.world_rotations[:-1])
    assert np.degrees(step_out.max()) < 2 * np.degrees(step_in) + 5
    q = pose.rotations
    assert (np.sum(q[1:] * q[:-1], -1) > 0).all()           # quaternion curves without sign flips


def test_presets_bind_and_are_detected_from_bone_names():
    for name in presets.PRESETS:
        bound = presets.preset(name)
        assert not np.isnan(bound.rest_points).any(), name
        if name != "builtin":
            match = presets.detect_preset(bound.rig.bone_names)
            assert match.preset == name and not match.missing
    # Mixamo with another prefix, or none; a rig missing its fingers' worth of bones is reported.
    names = presets.preset("mixamo").rig.bone_names
    for prefix in ("mixamorig1:", ""):
        renamed = [prefix + n.split(":", 1)[1] for n in names]
        match = presets.detect_preset(renamed)
        assert match.preset == "mixamo" and f"{prefix}Hips" in match.bone_map.bones
    partial = [n for n in names if "Neck" not in n]
    match = presets.detect_preset(partial)
    assert match.missing == ("mixamorig:Neck",) and "Neck" in match.report()
    with pytest.raises(LiftRigError, match="matches no preset"):
        presets.detect_preset(["Bone", "Bone.001", "Cube"])


SKELETON = {
    "hip": {"parent": None, "head": [0, 0, 1.0], "tail": [0, 0, 1.2]},
    "chest": {"parent": "hip", "head": [0, 0, 1.2], "tail": [0, 0, 1.5]},
    "thigh.L": {"parent": "hip", "head": [0.1, 0, 1.0], "tail": [0.1, 0, 0.55]},
    "thigh.R": {"parent": "hip", "head": [-0.1, 0, 1.0], "tail": [-0.1, 0, 0.55]},
    "shin.L": {"parent": "thigh.L", "head": [0.1, 0, 0.55], "tail": [0.1, 0.02, 0.1]},
}
BONES = {
    "hip": {"aim": ["Pelvis", "Spine"], "twist": "hips"},
    "chest": {"aim": ["Spine", "Thorax"], "twist": "swing"},
    "thigh.L": {"aim": ["LHip", "LKnee"], "twist": "left-leg"},
    "shin.L": {"aim": ["LKnee", "LAnkle"], "twist": "left-leg"},
    "thigh.R": ["RHip", "RKnee"],
}


def test_json_bone_map_with_skeleton_round_trips(tmp_path):
    path = tmp_path / "rig.json"
    path.write_text(json.dumps({"name": "tiny", "bones": BONES, "skeleton": SKELETON,
                                "points": {"Thorax": "chest.tail"}}))
    bone_map, rig = load_bone_map_json(path)
    bound = bind(rig, bone_map)
    assert bound.unmapped == () and rig.bone_names[0] == "hip"
    again = bone_map_from_dict(json.loads(json.dumps(bone_map.to_dict())))
    assert again == bone_map
    builtin = presets.fit_builtin()
    pts = posed_points(builtin, random_quats(10, builtin.rig.num_bones, 8), np.zeros((10, 3)))
    pose = solver.solve_pose(bound, pts)
    thigh = rig.index("thigh.L")
    got = pose.tails()[:, thigh] - pose.heads[:, thigh]
    want = pts[:, JOINT_NAMES.index("LKnee")] - pts[:, JOINT_NAMES.index("LHip")]
    cos = np.sum(got * want, -1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want, axis=-1)
    assert cos.min() > np.cos(np.radians(1.0))


@pytest.mark.parametrize("change, message", [
    (lambda b, s: b.update({"tail": {"aim": ["Spine", "Thorax"], "twist": "swing"}}),
     "'tail', which rig 'bad' lacks"),
    (lambda b, s: s["hip"].update({"parent": "chest"}), "'hip'.*cycle|cycle.*'hip'|'chest'.*cycle"),
    (lambda b, s: s["chest"].update({"parent": "spine"}), "bone 'chest' has the parent 'spine'"),
    (lambda b, s: b.pop("hip"), "no pelvis bone"),
    (lambda b, s: b["chest"].update({"aim": ["Spine", "Neck"]}), "bone 'chest' aim: 'Neck'"),
    (lambda b, s: b["chest"].update({"twist": "sideways"}), "bone 'chest': unknown twist"),
    (lambda b, s: b.update({"chest": {"aim": ["Spine", "Thorax"], "twist": "shoulders"}}),
     "bone 'chest' needs the point.*LShoulder"),
])
def test_bad_bone_maps_name_the_bone(tmp_path, change, message):
    bones = json.loads(json.dumps(BONES))
    skeleton = json.loads(json.dumps(SKELETON))
    change(bones, skeleton)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "bones": bones, "skeleton": skeleton,
                                "points": {"Thorax": "chest.tail"}}))
    with pytest.raises(LiftRigError, match=message):
        bone_map, rig = load_bone_map_json(path)
        bind(rig, bone_map)


def test_quaternions_are_w_first():
    q = quat_from_matrix(Rotation.from_rotvec([0, 0, np.pi / 2]).as_matrix())
    np.testing.assert_allclose(q, [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)], atol=1e-12)


def test_a_degenerate_body_still_gives_rotations():
    """Points that coincide (hips on the pelvis, nose on the thorax: an untrained lifter's
    output) leave those bones at rest relative to their parents instead of breaking the BVH."""
    builtin = presets.fit_builtin()
    pts = posed_points(builtin, random_quats(5, builtin.rig.num_bones, 9), np.zeros((5, 3)))
    index = JOINT_NAMES.index
    pts[:, index("LHip")] = pts[:, index("RHip")] = pts[:, index("Pelvis")]
    pts[:, index("Nose")] = pts[:, index("Thorax")]
    pose = solver.solve_pose(builtin, pts)
    np.testing.assert_allclose(np.linalg.det(pose.world_rotations), 1.0, atol=1e-9)
    assert parse_bvh(format_bvh(pose_to_bvh(pose, 30.0))).num_frames == 5
