# SPDX-License-Identifier: GPL-3.0-or-later
"""Bone maps: which Human3.6M points drive which bones of a rig, and how each bone's twist is set.

A map has one rule per driven bone: the bone turns so that the direction between two points
(``aim``: from, to) matches the subject's, and its twist about that direction follows a named
pole (``twist``, see :data:`TWIST_RULES`). The rest positions of the points on the rig
(``points``) are inferred from the rules where they are not given: a bone aimed from a point has
its head there, a bone aimed at a point its tail there. JSON form (see the README)::

    {"name": "my rig",
     "bones": {"hips": {"aim": ["RHip", "LHip"], "twist": "pelvis"}, ...},
     "points": {"Pelvis": "0.5*thigh.L.head + 0.5*thigh.R.head"},
     "translation_bone": "hips",
     "skeleton": {"hips": {"parent": null, "head": [0, 0, 1], "tail": [0, 0, 1.1]}, ...}}

Point expressions are a joint name or a weighted sum (``0.5*Pelvis + 0.5*Thorax``); rig point
expressions are sums of ``bone.head`` / ``bone.tail`` terms.

Every value of the JSON form is checked as it is read: an unknown key, a wrong type, a non-finite
or out-of-range number or a parent chain deeper than :data:`MAX_DEPTH` is a :class:`LiftRigError`
naming the file, the bone and the field.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checks import describe_json
from ..errors import LiftRigError
from ..h36m import JOINT_NAMES, NUM_JOINTS
from .extremities import ROLE_LANDMARKS, ROLES
from .mocap_map import HEADTOP_IN_HEAD, NOSE_IN_HEAD
from .rig import Rig
from .rotations import normalize

# Twist rules and the points each one reads (besides the aim's own points).
TWIST_RULES = {
    "pelvis": ("Pelvis", "Spine"),               # the pelvis, aimed along the hip line: up
    "hips": ("LHip", "RHip"),                    # the hip line: pelvis, lower spine
    "shoulders": ("LShoulder", "RShoulder"),     # the shoulder line: chest
    "spine": ("LHip", "RHip", "LShoulder", "RShoulder"),   # "spine:0.5": between the two
    "neck": ("LShoulder", "RShoulder", "Thorax", "Nose", "HeadTop"),  # between chest and face
    "face": ("LShoulder", "RShoulder", "Thorax", "Nose", "HeadTop"),  # the head's facing
    "chest": ("Spine", "Thorax"),                # clavicles: the chest's up direction
    "left-leg": ("LHip", "LKnee", "LAnkle", "RHip"),        # the knee's bend plane
    "right-leg": ("RHip", "RKnee", "RAnkle", "LHip"),
    "left-arm": ("LShoulder", "LElbow", "LWrist", "RShoulder", "Spine", "Thorax"),
    "right-arm": ("RShoulder", "RElbow", "RWrist", "LShoulder", "Spine", "Thorax"),
    "swing": (),                                 # no twist information: least rotation
    "fit": (),                                   # "fit:A,B": best fit to the aim and A, B
}
# Nose and head top of a rig's rest pose are placed from its head bone, scaled by the rig's
# pelvis-thorax distance against this reference (the Bandai actors').
REFERENCE_TRUNK = 0.43

# Limits of the JSON form: beyond them a value is a mistake (or would overflow), not a rig.
MAX_DEPTH = 256          # bones from a root down to the deepest; a BVH nests one block per level
MAX_COORDINATE = 1e5     # metres, for a bone's head and tail
MAX_ROLL = 360.0         # degrees
MAX_WEIGHT = 1e3         # a weight in a point expression
_MAP_KEYS = ("name", "bones", "points", "translation_bone", "skeleton", "extremities")
_RULE_KEYS = ("aim", "twist")
_SKELETON_KEYS = ("parent", "head", "tail", "roll")


@dataclass(frozen=True)
class PointExpr:
    """A weighted sum of the 17 points."""

    terms: tuple[tuple[int, float], ...]   # (joint index, weight)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """[..., 17, 3] -> [..., 3]"""
        return sum(w * points[..., j, :] for j, w in self.terms)

    @property
    def joints(self) -> tuple[int, ...]:
        return tuple(j for j, _ in self.terms)

    @property
    def single(self) -> int | None:
        """The joint index when the expression is just one joint."""
        return self.terms[0][0] if len(self.terms) == 1 and self.terms[0][1] == 1.0 else None

    def __str__(self) -> str:
        return " + ".join(JOINT_NAMES[j] if w == 1.0 else f"{w:g}*{JOINT_NAMES[j]}"
                          for j, w in self.terms)


@dataclass(frozen=True)
class RigPointExpr:
    """A point on a rig: a weighted sum of bone heads and tails, plus an optional offset that
    moves with one bone (used for the nose and head top)."""

    terms: tuple[tuple[str, str, float], ...]   # (bone, "head" | "tail", weight)
    offset_bone: str | None = None
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)   # rest-pose vector

    @property
    def bones(self) -> tuple[str, ...]:
        extra = (self.offset_bone,) if self.offset_bone else ()
        return tuple(b for b, _, _ in self.terms) + extra

    def __str__(self) -> str:
        return " + ".join(f"{b}.{part}" if w == 1.0 else f"{w:g}*{b}.{part}"
                          for b, part, w in self.terms)


@dataclass(frozen=True)
class BoneRule:
    """How one bone follows the subject."""

    bone: str
    aim: tuple[PointExpr, PointExpr]   # the bone turns to point from aim[0] towards aim[1]
    twist: str                          # a key of TWIST_RULES, "spine:T" or "fit:A,B,..."

    @property
    def twist_kind(self) -> str:
        return self.twist.split(":", 1)[0]


@dataclass(frozen=True)
class BoneMap:
    """Rules for the driven bones, known rest positions of points, the bone that translates."""

    name: str
    rules: tuple[BoneRule, ...]
    points: tuple[tuple[str, RigPointExpr], ...] = ()
    translation_bone: str | None = None
    extremities: tuple[tuple[str, str], ...] = ()   # (bone, role of extremities.ROLES)

    @property
    def bones(self) -> tuple[str, ...]:
        return tuple(r.bone for r in self.rules)

    @property
    def pelvis_bones(self) -> tuple[str, ...]:
        """The bones that follow the pelvis (twist "pelvis", or "hips" in older maps)."""
        return tuple(r.bone for r in self.rules if r.twist_kind in ("pelvis", "hips"))

    def to_dict(self) -> dict:
        """The JSON form (see the module docstring)."""
        out = {"name": self.name,
               "bones": {r.bone: {"aim": [str(r.aim[0]), str(r.aim[1])], "twist": r.twist}
                         for r in self.rules}}
        if self.points:
            out["points"] = {n: str(e) for n, e in self.points}
        if self.translation_bone:
            out["translation_bone"] = self.translation_bone
        if self.extremities:
            out["extremities"] = dict(self.extremities)
        return out


# ---------------------------------------------------------------------------------------------
# Checks of JSON values: each error names the field, what was found and what is expected

def _object(value, where: str, expected: str, keys: tuple[str, ...] | None = None) -> dict:
    """``value`` when it is a JSON object whose keys are all among ``keys`` (None: any keys)."""
    if not isinstance(value, dict):
        raise LiftRigError(f"{where}: expected {expected}, got {describe_json(value)}")
    unknown = [key for key in value if key not in keys] if keys is not None else []
    if unknown:
        hint = difflib.get_close_matches(unknown[0], keys, 1)
        raise LiftRigError(f"{where} has the unknown key {unknown[0]!r}"
                           + (f" (did you mean {hint[0]!r}?)" if hint else "")
                           + f"; its keys are {', '.join(keys)}")
    return value


def _text(value, where: str, optional: bool = False) -> str | None:
    """A non-empty JSON string (or, when ``optional``, null)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise LiftRigError(f"{where}: expected text{' or null' if optional else ''}, "
                           f"got {describe_json(value)}")
    return value


def _number(value, where: str, limit: float) -> float:
    """A finite JSON number within +-``limit`` (not text, not true/false)."""
    if type(value) not in (int, float) or not -limit <= value <= limit:   # refuses NaN too
        raise LiftRigError(f"{where}: expected a finite number between {-limit:g} and "
                           f"{limit:g}, got {describe_json(value)}")
    return float(value)


def _vector(value, where: str) -> np.ndarray:
    """``[x, y, z]``: three finite JSON numbers (metres)."""
    if not isinstance(value, list) or len(value) != 3:
        raise LiftRigError(f"{where}: expected [x, y, z] (3 numbers, metres), "
                           f"got {describe_json(value)}")
    return np.array([_number(v, f"{where}[{i}]", MAX_COORDINATE) for i, v in enumerate(value)])


def _weight(text: str, expression: str, what: str) -> float:
    """A weight written in a point expression (``0.5`` in ``0.5*Pelvis``)."""
    try:
        weight = float(text)
    except ValueError:
        raise LiftRigError(f"{what}: the weight {text!r} in {expression!r} is not a number") \
            from None
    if not math.isfinite(weight) or abs(weight) > MAX_WEIGHT:
        raise LiftRigError(f"{what}: the weight {text!r} in {expression!r} must be a finite "
                           f"number between {-MAX_WEIGHT:g} and {MAX_WEIGHT:g}")
    return weight


# ---------------------------------------------------------------------------------------------
# Parsing

_TERM = re.compile(r"^\s*(?:([-+]?[0-9.]+(?:e[-+]?\d+)?)\s*\*)?\s*(.+?)\s*$", re.IGNORECASE)


def _terms(text: str, what: str) -> list[tuple[float, str]]:
    if not isinstance(text, str) or not text.strip():
        raise LiftRigError(f"{what}: expected a text expression, got {describe_json(text)}")
    out = []
    for part in text.split("+"):
        m = _TERM.match(part)
        if not m or not m.group(2):
            raise LiftRigError(f"{what}: cannot read {part.strip()!r} in {text!r}")
        out.append((_weight(m.group(1), text, what) if m.group(1) else 1.0, m.group(2)))
    return out


def parse_point(text: str, what: str = "point") -> PointExpr:
    """``"LKnee"`` or ``"0.5*Pelvis + 0.5*Thorax"`` -> :class:`PointExpr`."""
    terms = []
    for w, name in _terms(text, what):
        if name not in JOINT_NAMES:
            hint = difflib.get_close_matches(name, JOINT_NAMES, 1)
            raise LiftRigError(f"{what}: {name!r} is not a Human3.6M point"
                               + (f" (did you mean {hint[0]!r}?)" if hint else "")
                               + f"; the points are {', '.join(JOINT_NAMES)}")
        terms.append((JOINT_NAMES.index(name), w))
    return PointExpr(tuple(terms))


def parse_rig_point(text: str, what: str = "point") -> RigPointExpr:
    """``"thigh.L.head"`` or ``"0.5*thigh.L.head + 0.5*thigh.R.head"`` -> :class:`RigPointExpr`."""
    terms = []
    for w, ref in _terms(text, what):
        bone, _, part = ref.rpartition(".")
        if part not in ("head", "tail") or not bone:
            raise LiftRigError(f"{what}: {ref!r} must be BONE.head or BONE.tail")
        terms.append((bone, part, w))
    return RigPointExpr(tuple(terms))


def _check_twist(twist, bone: str) -> str:
    if not isinstance(twist, str):
        raise LiftRigError(f"bone {bone!r}: twist must be text, got {describe_json(twist)}")
    kind, _, arg = twist.partition(":")
    if kind not in TWIST_RULES:
        raise LiftRigError(f"bone {bone!r}: unknown twist {twist!r}; use one of "
                           f"{', '.join(k for k in TWIST_RULES if k not in ('spine', 'fit'))}, "
                           "spine:T (T from 0 at the hips to 1 at the shoulders) or fit:A,B")
    if kind == "spine":
        try:
            t = float(arg)
        except ValueError:
            raise LiftRigError(f"bone {bone!r}: {twist!r} needs a number, e.g. spine:0.5") \
                from None
        if not 0.0 <= t <= 1.0:
            raise LiftRigError(f"bone {bone!r}: {twist!r}: the number must be in 0..1")
    if kind == "fit":
        for name in filter(None, arg.split(",")):
            parse_point(name.strip(), f"bone {bone!r} twist")
    return twist


def rule(bone: str, aim_from: str, aim_to: str, twist: str) -> BoneRule:
    """A :class:`BoneRule` from text, with errors that name the bone."""
    what = f"bone {bone!r} aim"
    return BoneRule(bone, (parse_point(aim_from, what), parse_point(aim_to, what)),
                    _check_twist(twist, bone))


def bone_map_from_dict(data: dict, default_name: str = "custom") -> BoneMap:
    """A :class:`BoneMap` from its JSON form."""
    if not isinstance(data, dict) or not isinstance(data.get("bones"), dict) or not data["bones"]:
        raise LiftRigError('a bone map needs "bones": {"BONE": {"aim": [FROM, TO], '
                           '"twist": RULE}, ...}')
    _object(data, "the bone map", "an object", _MAP_KEYS)
    rules = []
    for bone, spec in data["bones"].items():
        if isinstance(spec, list):
            spec = {"aim": spec}
        where = f"bone {bone!r}"
        _object(spec, where, '{"aim": [FROM, TO], "twist": RULE}', _RULE_KEYS)
        aim = spec.get("aim")
        if not isinstance(aim, list) or len(aim) != 2:
            raise LiftRigError(f'{where}: expected "aim": [FROM, TO], got {describe_json(aim)}')
        rules.append(rule(bone, aim[0], aim[1], spec.get("twist", "swing")))
    points = []
    given = data.get("points")
    for name, text in _object({} if given is None else given, '"points"',
                              '{POINT: "BONE.head", ...}').items():
        parse_point(name, "points")  # the key must be a Human3.6M point
        points.append((name, parse_rig_point(text, f"point {name!r}")))
    translation = _text(data.get("translation_bone"), '"translation_bone"', optional=True)
    name = _text(data.get("name"), '"name"', optional=True) or default_name
    extremities = []
    given = data.get("extremities")
    for bone, role in _object({} if given is None else given, '"extremities"',
                              '{BONE: ROLE, ...}').items():
        if role not in ROLES:
            raise LiftRigError(f'"extremities": bone {bone!r} is given {describe_json(role)}; '
                               f"a role is one of {', '.join(ROLES)}")
        extremities.append((bone, role))
    return BoneMap(name=name, rules=tuple(rules), points=tuple(points),
                   translation_bone=translation, extremities=tuple(extremities))


def rig_from_dict(data: dict, name: str) -> Rig:
    """The ``"skeleton"`` part of a JSON bone map: ``{BONE: {"parent", "head", "tail",
    "roll"}}`` (metres, Z up, facing -Y; roll in degrees, optional)."""
    _object(data, '"skeleton"', '{BONE: {"parent", "head", "tail", "roll"}, ...}')
    bones, rolls = [], []
    for bone, spec in data.items():
        where = f"skeleton bone {bone!r}"
        _object(spec, where, '{"parent", "head": [x, y, z], "tail": [x, y, z], "roll"}',
                _SKELETON_KEYS)
        if "head" not in spec or "tail" not in spec:
            raise LiftRigError(f'{where}: needs "head": [x, y, z] and "tail": [x, y, z]')
        head = _vector(spec["head"], f"{where} head")
        tail = _vector(spec["tail"], f"{where} tail")
        if np.linalg.norm(tail - head) < 1e-6:
            raise LiftRigError(f"{where}: head and tail coincide")
        bones.append((bone, _text(spec.get("parent"), f"{where} parent", optional=True),
                      head, tail))
        rolls.append(np.radians(_number(spec.get("roll", 0.0), f"{where} roll (degrees)",
                                        MAX_ROLL)))
    _check_depth({b: p for b, p, _, _ in bones}, name)
    return Rig.from_bones(name, bones, rolls)


def _check_depth(parent_of: dict, rig_name: str) -> None:
    """Refuse parent chains longer than :data:`MAX_DEPTH` bones, walking them without recursion;
    unknown parents and cycles are left to :meth:`Rig.from_bones`, which names them."""
    depth = {None: 0}
    for start in parent_of:
        chain, walked, bone = [], set(), start
        while bone not in depth:
            if bone not in parent_of or bone in walked:   # an unknown parent or a cycle
                return
            chain.append(bone)
            walked.add(bone)
            bone = parent_of[bone]
        for bone in reversed(chain):
            depth[bone] = depth[parent_of[bone]] + 1
            if depth[bone] > MAX_DEPTH:
                raise LiftRigError(f"rig {rig_name!r}: the parent chain from the root down to "
                                   f"bone {bone!r} is {depth[bone]} bones long, more than the "
                                   f'{MAX_DEPTH} allowed; check the skeleton\'s "parent" entries')


def load_bone_map_json(path) -> tuple[BoneMap, Rig | None]:
    """Read a JSON bone map, and its rig when it has a ``"skeleton"``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LiftRigError(f"cannot read the bone map {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise LiftRigError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except (ValueError, RecursionError) as exc:   # not UTF-8, a number too long, nested too deep
        raise LiftRigError(f"{path} is not a readable JSON file ({exc})") from None
    try:
        bone_map = bone_map_from_dict(data, path.stem)
        skeleton = data.get("skeleton")
        rig = rig_from_dict(skeleton, bone_map.name) if skeleton not in (None, {}) else None
    except LiftRigError as exc:
        raise LiftRigError(f"{path}: {exc}") from None
    return bone_map, rig


# ---------------------------------------------------------------------------------------------
# Binding a map to a rig

@dataclass(frozen=True, eq=False)
class BoundRig:
    """A rig with a checked bone map: per-bone rules and the rest positions of the points."""

    rig: Rig
    bone_map: BoneMap
    rules: tuple[BoneRule | None, ...]            # per bone of the rig
    rest_points: np.ndarray                       # [17, 3]; NaN where the rig has no such point
    point_exprs: tuple[RigPointExpr | None, ...]  # per point: where it sits on the rig
    translation_bone: int
    unmapped: tuple[str, ...] = field(default=())  # rig bones no rule drives
    extremities: tuple[tuple[int, str], ...] = field(default=())  # (bone index, role)

    def report(self) -> str:
        """A short human-readable account of the mapping."""
        driven = sum(r is not None for r in self.rules)
        text = f"{self.bone_map.name}: {driven} of {self.rig.num_bones} bones driven"
        if self.extremities:
            text += ("; from MediaPipe's landmarks: " + ", ".join(
                f"{self.rig.bone_names[b]} ({ROLE_LANDMARKS[role]})" for b, role in self.extremities))
        if self.unmapped:
            shown = ", ".join(self.unmapped[:12]) + (" ..." if len(self.unmapped) > 12 else "")
            text += f"; not driven (they keep their rest pose relative to their parent): {shown}"
        return text


def evaluate_rig_point(expr: RigPointExpr, rig: Rig, heads: np.ndarray, tails: np.ndarray,
                       world_rotations: np.ndarray | None = None) -> np.ndarray:
    """Position of ``expr`` given bone heads and tails [..., B, 3] (and the bones' rotations
    from rest [..., B, 3, 3] for an offset; None means the rest pose)."""
    out = 0.0
    for bone, part, w in expr.terms:
        j = rig.index(bone)
        out = out + w * (heads[..., j, :] if part == "head" else tails[..., j, :])
    if expr.offset_bone:
        j = rig.index(expr.offset_bone)
        off = np.asarray(expr.offset)
        if world_rotations is not None:
            off = world_rotations[..., j, :, :] @ off
        out = out + off
    return out


def bind(rig: Rig, bone_map: BoneMap) -> BoundRig:
    """Check ``bone_map`` against ``rig`` and place the points on the rig's rest pose.

    Raises :class:`LiftRigError` naming the bone for a map to a bone the rig lacks, a bone
    driven twice, a rule that needs a point the rig does not locate, or a map without a pelvis.
    """
    def known(bone: str, what: str) -> int:
        if bone not in rig.bone_names:
            hint = difflib.get_close_matches(bone, rig.bone_names, 1)
            raise LiftRigError(f"bone map {bone_map.name!r}: {what} {bone!r}, which rig "
                               f"{rig.name!r} lacks" + (f" (did you mean {hint[0]!r}?)"
                                                        if hint else "")
                               + ". Fix the bone name in the map or pick the right preset.")
        return rig.index(bone)

    rules: list[BoneRule | None] = [None] * rig.num_bones
    for r in bone_map.rules:
        j = known(r.bone, "maps the bone")
        if rules[j] is not None:
            raise LiftRigError(f"bone map {bone_map.name!r}: bone {r.bone!r} has two rules")
        rules[j] = r
    hips = bone_map.pelvis_bones
    if not hips:
        raise LiftRigError(f"bone map {bone_map.name!r} drives no pelvis bone: add the rig's "
                           'pelvis/hips bone with "aim": ["RHip", "LHip"], "twist": "pelvis"')

    exprs: list[RigPointExpr | None] = [None] * NUM_JOINTS
    for name, expr in bone_map.points:
        for bone in expr.bones:
            known(bone, f"places the point {name} on the bone")
        exprs[JOINT_NAMES.index(name)] = expr
    _infer_points(exprs, bone_map.rules, rig)
    rest = np.full((NUM_JOINTS, 3), np.nan)
    for j, expr in enumerate(exprs):
        if expr is not None:
            rest[j] = evaluate_rig_point(expr, rig, rig.rest_heads, rig.rest_tails)
    _place_head_points(exprs, rest, bone_map.rules, rig)

    for r in bone_map.rules:
        needed = set(r.aim[0].joints + r.aim[1].joints)
        needed |= {JOINT_NAMES.index(p) for p in TWIST_RULES[r.twist_kind]}
        if r.twist_kind == "fit":
            needed |= {parse_point(p.strip()).single for p in r.twist[4:].split(",") if p.strip()}
        missing = [JOINT_NAMES[j] for j in sorted(needed) if np.isnan(rest[j]).any()]
        if missing:
            raise LiftRigError(f"bone map {bone_map.name!r}: bone {r.bone!r} needs the point(s) "
                               f"{', '.join(missing)}, which no bone of the map locates on the "
                               'rig; add them under "points" (e.g. "LKnee": "shin.L.head")')
        if np.linalg.norm(r.aim[1](rest) - r.aim[0](rest)) < 1e-6:
            raise LiftRigError(f"bone map {bone_map.name!r}: bone {r.bone!r} aims from "
                               f"{r.aim[0]} to {r.aim[1]}, which coincide in the rest pose")

    pelvis = JOINT_NAMES.index("Pelvis")
    if exprs[pelvis] is None:
        raise LiftRigError(f"bone map {bone_map.name!r}: the rig's pelvis point is unknown; "
                           'add "points": {"Pelvis": "BONE.head"}')
    t_name = bone_map.translation_bone or hips[0]
    translation = known(t_name, "moves the bone")
    for bone in exprs[pelvis].bones:
        if not rig.is_ancestor(translation, rig.index(bone)):
            raise LiftRigError(f"bone map {bone_map.name!r}: the pelvis point sits on bone "
                               f"{bone!r}, which does not move with the translation bone "
                               f"{t_name!r}; choose a translation bone above it")
    extremities = tuple((known(bone, f"gives the {role} to"), role)
                        for bone, role in bone_map.extremities)
    with_role = {rig.bone_names[b] for b, _ in extremities}
    unmapped = tuple(b for b, r in zip(rig.bone_names, rules) if r is None and b not in with_role)
    return BoundRig(rig=rig, bone_map=bone_map, rules=tuple(rules), rest_points=rest,
                    point_exprs=tuple(exprs), translation_bone=translation, unmapped=unmapped,
                    extremities=extremities)


def _infer_points(exprs: list, rules, rig: Rig) -> None:
    """Fill unknown point positions from the rules: aimed from a point -> the bone's head, aimed
    at it -> its tail; the pelvis between the hips, the spine point midway pelvis-thorax."""
    # A pelvis bone aims along the hip line, from one hip to the other: neither is its head.
    rules = [r for r in rules if r.twist_kind != "pelvis"]

    def set_from_aims(j: int) -> None:
        if exprs[j] is not None:
            return
        for r in rules:
            if r.aim[0].single == j:
                exprs[j] = RigPointExpr(((r.bone, "head", 1.0),))
                return
        for r in rules:
            if r.aim[1].single == j:
                exprs[j] = RigPointExpr(((r.bone, "tail", 1.0),))
                return

    index = JOINT_NAMES.index
    for name in ("RHip", "LHip", "RKnee", "LKnee", "RAnkle", "LAnkle", "LShoulder", "RShoulder",
                 "LElbow", "RElbow", "LWrist", "RWrist"):
        set_from_aims(index(name))
    pelvis, spine, thorax = index("Pelvis"), index("Spine"), index("Thorax")
    lhip, rhip = exprs[index("LHip")], exprs[index("RHip")]
    if exprs[pelvis] is None and lhip is not None and rhip is not None:
        exprs[pelvis] = _scaled_sum((lhip, 0.5), (rhip, 0.5))
    set_from_aims(pelvis)
    set_from_aims(thorax)
    if exprs[spine] is None and exprs[pelvis] is not None and exprs[thorax] is not None:
        exprs[spine] = _scaled_sum((exprs[pelvis], 0.5), (exprs[thorax], 0.5))
    set_from_aims(spine)


def _scaled_sum(*parts: tuple[RigPointExpr, float]) -> RigPointExpr:
    return RigPointExpr(tuple((b, p, w * s) for e, s in parts for b, p, w in e.terms))


def _place_head_points(exprs: list, rest: np.ndarray, rules, rig: Rig) -> None:
    """Nose and head top, when not given, from the bone with the "face" twist: its head plus the
    offsets the mocap mapping uses, in the rest pose's up/forward axes, scaled to the rig."""
    face = next((r for r in rules if r.twist_kind == "face"), None)
    index = JOINT_NAMES.index
    needed = [index(n) for n in ("Nose", "HeadTop") if exprs[index(n)] is None]
    if face is None or not needed:
        return
    pelvis, thorax = rest[index("Pelvis")], rest[index("Thorax")]
    left = rest[index("LHip")] - rest[index("RHip")]
    if np.isnan(pelvis).any() or np.isnan(thorax).any() or np.isnan(left).any():
        return
    up = normalize(thorax - pelvis)
    forward = normalize(np.cross(left, up))
    scale = np.linalg.norm(thorax - pelvis) / REFERENCE_TRUNK
    head_bone = rig.index(face.bone)
    for j in needed:
        u, f = NOSE_IN_HEAD if JOINT_NAMES[j] == "Nose" else HEADTOP_IN_HEAD
        offset = scale * (u * up + f * forward)
        exprs[j] = RigPointExpr(((face.bone, "head", 1.0),), face.bone, tuple(offset))
        rest[j] = rig.rest_heads[head_bone] + offset
