# SPDX-License-Identifier: GPL-3.0-or-later
"""BVH motion files: reader, forward kinematics and writer (numpy/scipy only).

Conventions, as the format's common readers (Blender, MotionBuilder) use them:
- a joint's rotation channels compose intrinsically in the listed order
  (``Zrotation Xrotation Yrotation`` means R = Rz Rx Ry), angles in degrees;
- a joint's position channels, where it has them, replace its OFFSET (the root's offset is
  usually zero; Bandai's files give every joint 6 channels that repeat the offsets);
- lengths are in the file's units: :func:`guess_unit_scale` tells metres per unit.
Any channel order, 3- and 6-channel joints, several roots and end sites are read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..checks import check_finite
from ..errors import LiftRigError
from ..fileio import atomic_write
from .rotations import euler_from_matrix

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")


@dataclass(frozen=True)
class BvhSkeleton:
    """The HIERARCHY section: joints in file order (parents before children)."""

    names: tuple[str, ...]
    parents: tuple[int, ...]                 # -1 for a root
    offsets: np.ndarray                      # float64 [J, 3], file units, in the parent's frame
    channels: tuple[tuple[str, ...], ...]    # per joint, e.g. ("Zrotation", "Xrotation", ...)
    end_offsets: np.ndarray                  # float64 [J, 3]: the joint's End Site offset
    has_end: np.ndarray                      # bool [J]: the joint ends in an End Site

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise LiftRigError(f"the BVH skeleton has no joint named {name!r}") from None

    def rest_positions(self) -> np.ndarray:
        """Joint positions [J, 3] in the rest pose (offsets summed down the tree)."""
        pos = np.zeros((self.num_joints, 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        return pos


@dataclass
class BvhMotion:
    """A skeleton and its channel values, one row per frame."""

    skeleton: BvhSkeleton
    frame_time: float        # seconds per frame
    values: np.ndarray       # float64 [F, C]: every joint's channels, in file order

    @property
    def num_frames(self) -> int:
        return len(self.values)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time


@dataclass
class BvhPose:
    """Forward kinematics of a :class:`BvhMotion`, in the file's axes and units times a scale."""

    positions: np.ndarray      # [F, J, 3] joint positions
    rotations: np.ndarray      # [F, J, 3, 3] joint orientations (global)
    end_positions: np.ndarray  # [F, J, 3] End Site positions (the joint's own position if none)


# ---------------------------------------------------------------------------------------------
# Reading

def read_bvh(path) -> BvhMotion:
    """Read a BVH file; a malformed one raises :class:`LiftRigError` naming the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LiftRigError(f"cannot read the BVH file {path}: {exc.strerror}") from None
    try:
        return parse_bvh(text)
    except LiftRigError as exc:
        raise LiftRigError(f"{path}: {exc}") from None


def parse_bvh(text: str) -> BvhMotion:
    """Parse the text of a BVH file: its HIERARCHY (:class:`_Hierarchy`), then its MOTION."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise LiftRigError("empty file: expected HIERARCHY")
    if lines[first].split()[0].upper() != "HIERARCHY":
        raise LiftRigError(f"line {first + 1}: expected HIERARCHY at the start of a BVH file")
    hierarchy = _Hierarchy()
    motion_line = None
    for lineno in range(first + 1, len(lines)):
        tokens = lines[lineno].split()
        if tokens and tokens[0].upper() == "MOTION":
            motion_line = lineno
            break
        hierarchy.read_line(tokens, lineno)
    if motion_line is None:
        raise LiftRigError("no MOTION section")
    skeleton = hierarchy.skeleton(motion_line)
    return _read_motion(lines, motion_line, skeleton)


class _Hierarchy:
    """The joints of a BVH HIERARCHY as its lines are read, token by token."""

    def __init__(self):
        self.names: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[np.ndarray] = []
        self.channels: list[tuple[str, ...]] = []
        self.end_offsets: dict[int, np.ndarray] = {}
        # Open blocks: ("joint", index) or ("end", owning joint); `pending` is a node declared
        # whose "{" has not come yet.
        self.stack: list[tuple[str, int]] = []
        self.pending: tuple[str, int] | None = None

    def read_line(self, tokens: list[str], lineno: int) -> None:
        i = 0
        while i < len(tokens):
            i = self._read_token(tokens, i, lineno)

    def _read_token(self, tokens: list[str], i: int, lineno: int) -> int:
        """Read the statement starting at ``tokens[i]``; the index after it."""
        def fail(what: str):
            raise LiftRigError(f"line {lineno + 1}: {what}")

        tok, stack = tokens[i], self.stack
        up = tok.upper()
        if up in ("ROOT", "JOINT"):
            rest = tokens[i + 1:]
            opens = bool(rest) and rest[-1] == "{"
            name = " ".join(rest[:-1] if opens else rest)
            if not name:
                fail(f"{tok} without a name")
            if stack and stack[-1][0] == "end":
                fail("a joint inside an End Site")
            if up == "JOINT" and not stack:
                fail(f"JOINT {name} outside any ROOT")
            self.names.append(name)
            self.parents.append(stack[-1][1] if stack else -1)
            self.offsets.append(np.zeros(3))
            self.channels.append(())
            self.pending = ("joint", len(self.names) - 1)
            return len(tokens) - 1 if opens else len(tokens)
        if up == "END":
            if not stack or stack[-1][0] != "joint":
                fail("End Site outside a joint")
            self.pending = ("end", stack[-1][1])
            return len(tokens) - 1 if tokens[-1] == "{" and len(tokens) > 1 else len(tokens)
        if tok == "{":
            if self.pending is None:
                fail("'{' without a ROOT, JOINT or End Site before it")
            stack.append(self.pending)
            self.pending = None
            return i + 1
        if tok == "}":
            if not stack:
                fail("unbalanced '}'")
            stack.pop()
            return i + 1
        if up == "OFFSET":
            if not stack:
                fail("OFFSET outside a joint")
            vals = _floats(tokens[i + 1:i + 4], lineno, "OFFSET")
            kind, index = stack[-1]
            if kind == "end":
                self.end_offsets.setdefault(index, vals)
            else:
                self.offsets[index] = vals
            return i + 4
        if up == "CHANNELS":
            if not stack or stack[-1][0] != "joint":
                fail("CHANNELS outside a joint")
            try:
                count = int(tokens[i + 1])
            except (IndexError, ValueError):
                fail("CHANNELS needs a count")
            listed = tuple(c.capitalize() for c in tokens[i + 2:i + 2 + count])
            if len(listed) != count:
                fail(f"CHANNELS {count} lists {len(listed)} channels")
            unknown = [c for c in listed if c not in POSITION_CHANNELS + ROTATION_CHANNELS]
            if unknown:
                fail(f"unknown channel {unknown[0]!r}")
            self.channels[stack[-1][1]] = listed
            return i + 2 + count
        fail(f"unexpected {tok!r} in the hierarchy")

    def skeleton(self, motion_line: int) -> BvhSkeleton:
        """The skeleton read, once the MOTION line (``motion_line``) is reached."""
        if self.stack:
            raise LiftRigError(f"line {motion_line + 1}: the hierarchy has {len(self.stack)} "
                               "unclosed '{'")
        if not self.names:
            raise LiftRigError("the hierarchy has no joints")
        joints = range(len(self.names))
        return BvhSkeleton(
            names=tuple(self.names), parents=tuple(self.parents),
            offsets=np.array(self.offsets, np.float64), channels=tuple(self.channels),
            end_offsets=np.array([self.end_offsets.get(j, np.zeros(3)) for j in joints]),
            has_end=np.array([j in self.end_offsets for j in joints], bool))


def _read_motion(lines: list[str], motion_line: int, skeleton: BvhSkeleton) -> BvhMotion:
    """The MOTION section after ``motion_line``: its header, then whole frames of channels."""
    num_frames, frame_time, first_data = _motion_header(lines, motion_line)
    width = skeleton.num_channels
    data = " ".join(lines[first_data:]).split()
    try:
        flat = np.array(data, np.float64)
    except ValueError:
        bad = next(t for t in data if not _is_float(t))
        raise LiftRigError(f"motion data: {bad!r} is not a number") from None
    if width == 0:
        return BvhMotion(skeleton, frame_time, np.zeros((num_frames, 0)))
    whole = len(flat) // width
    if whole < num_frames and len(flat) % width:
        raise LiftRigError(f"motion data: {len(flat)} numbers are not whole frames of "
                           f"{width} channels (the header says {num_frames} frames)")
    frames = min(num_frames, whole)  # a file cut short keeps its whole frames
    return BvhMotion(skeleton, frame_time, flat[:frames * width].reshape(frames, width))


def _floats(tokens, lineno, what) -> np.ndarray:
    if len(tokens) != 3 or not all(_is_float(t) for t in tokens):
        raise LiftRigError(f"line {lineno + 1}: {what} needs three numbers")
    return np.array([float(t) for t in tokens])


def _is_float(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def _motion_header(lines, motion_line) -> tuple[int, float, int]:
    """Frames count, frame time and the index of the first data line after MOTION."""
    frames = frame_time = None
    i = motion_line + 1
    while i < len(lines) and (frames is None or frame_time is None):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        key, _, value = line.partition(":")
        key = key.strip().lower()
        try:
            if key == "frames":
                frames = int(value)
            elif key == "frame time":
                frame_time = float(value)
            else:
                raise LiftRigError(f"line {i}: expected 'Frames:' and 'Frame Time:' after MOTION")
        except ValueError:
            raise LiftRigError(f"line {i}: {line!r} is not a number of frames or a frame time") \
                from None
    if frames is None or frame_time is None:
        raise LiftRigError("the MOTION section lacks 'Frames:' or 'Frame Time:'")
    if not frame_time > 0:
        raise LiftRigError(f"Frame Time must be positive, got {frame_time}")
    return frames, frame_time, i


def guess_unit_scale(skeleton: BvhSkeleton) -> float:
    """Metres per file unit, guessed from the rest skeleton's height (a person is 1-2.2 m):
    1 for metres, 0.0254 for inches, 0.01 for centimetres."""
    rest = skeleton.rest_positions()
    ends = rest + skeleton.end_offsets * skeleton.has_end[:, None]
    extent = float(np.ptp(np.concatenate([rest, ends]), axis=0).max())
    if extent < 5.0:
        return 1.0
    if extent < 110.0:
        return 0.0254
    return 0.01


# ---------------------------------------------------------------------------------------------
# Channels <-> joint transforms, forward kinematics

def _channel_layout(skeleton: BvhSkeleton):
    """Per joint: (rotation column indices, rotation axes "ZXY", {position axis: column})."""
    layout = []
    col = 0
    for chans in skeleton.channels:
        rot_cols, axes, pos_cols = [], "", {}
        for c in chans:
            if c in ROTATION_CHANNELS:
                rot_cols.append(col)
                axes += c[0]
            else:
                pos_cols["XYZ".index(c[0])] = col
            col += 1
        layout.append((rot_cols, axes, pos_cols))
    return layout


def local_transforms(motion: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """Each joint's rotation [F, J, 3, 3] and translation [F, J, 3] relative to its parent."""
    sk = motion.skeleton
    frames = motion.num_frames
    rotations = np.broadcast_to(np.eye(3), (frames, sk.num_joints, 3, 3)).copy()
    translations = np.broadcast_to(sk.offsets, (frames, sk.num_joints, 3)).copy()
    for j, (rot_cols, axes, pos_cols) in enumerate(_channel_layout(sk)):
        if axes:
            angles = np.radians(motion.values[:, rot_cols])
            rotations[:, j] = Rotation.from_euler(axes, angles).as_matrix()
        for axis, col in pos_cols.items():
            translations[:, j, axis] = motion.values[:, col]
    return rotations, translations


def forward_kinematics(motion: BvhMotion, scale: float = 1.0) -> BvhPose:
    """Global joint positions and orientations of every frame; lengths multiplied by ``scale``."""
    local_rot, local_pos = local_transforms(motion)
    sk = motion.skeleton
    rot = np.empty_like(local_rot)
    pos = np.empty_like(local_pos)
    for j, p in enumerate(sk.parents):
        if p < 0:
            rot[:, j] = local_rot[:, j]
            pos[:, j] = local_pos[:, j]
        else:
            rot[:, j] = rot[:, p] @ local_rot[:, j]
            pos[:, j] = pos[:, p] + np.einsum("fij,fj->fi", rot[:, p], local_pos[:, j])
    ends = pos + np.einsum("fjik,jk->fji", rot, sk.end_offsets)
    return BvhPose(positions=pos * scale, rotations=rot, end_positions=ends * scale)


def encode_channels(skeleton: BvhSkeleton, rotations: np.ndarray,
                    translations: np.ndarray | None = None) -> np.ndarray:
    """The inverse of :func:`local_transforms`: local rotations [F, J, 3, 3] (and translations
    [F, J, 3] for joints with position channels) -> channel values [F, C].

    Euler angles are continuous over time (see :func:`rotations.euler_from_matrix`).
    """
    frames = len(rotations)
    values = np.zeros((frames, skeleton.num_channels))
    for j, (rot_cols, axes, pos_cols) in enumerate(_channel_layout(skeleton)):
        if axes:
            if len(axes) != 3:
                raise ValueError(f"joint {skeleton.names[j]}: writing needs 3 rotation channels")
            values[:, rot_cols] = euler_from_matrix(rotations[:, j], axes)
        for axis, col in pos_cols.items():
            values[:, col] = (translations[:, j, axis] if translations is not None
                              else skeleton.offsets[j, axis])
    return values


# ---------------------------------------------------------------------------------------------
# Writing

def make_skeleton(names, parents, offsets, end_offsets=None, channel_order: str = "ZXY",
                  position_joints=(0,)) -> BvhSkeleton:
    """A skeleton whose joints have 3 rotation channels in ``channel_order`` (e.g. "ZXY"), plus
    3 position channels first for the joints in ``position_joints`` (the root by default).
    Every joint without children ends in an End Site (offset from ``end_offsets``, [J, 3])."""
    order = channel_order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise LiftRigError(f"channel order must be a permutation of XYZ, got {channel_order!r}")
    parents = tuple(int(p) for p in parents)
    has_child = np.zeros(len(names), bool)
    for p in parents:
        if p >= 0:
            has_child[p] = True
    rot = tuple(f"{a}rotation" for a in order)
    channels = tuple((POSITION_CHANNELS + rot) if j in position_joints else rot
                     for j in range(len(names)))
    ends = np.zeros((len(names), 3)) if end_offsets is None else np.asarray(end_offsets, float)
    return BvhSkeleton(names=tuple(names), parents=parents, offsets=np.asarray(offsets, float),
                       channels=channels, end_offsets=ends, has_end=~has_child)


def format_bvh(motion: BvhMotion, precision: int = 6) -> str:
    """The text of a BVH file: tab-indented hierarchy, then one line of channels per frame."""
    sk = motion.skeleton
    children: dict[int, list[int]] = {j: [] for j in range(-1, sk.num_joints)}
    for j, p in enumerate(sk.parents):
        children[p].append(j)
    out = ["HIERARCHY"]

    def num(v: float) -> str:
        return f"{v:.{precision}f}"

    def joint(j: int, depth: int) -> None:
        pad = "\t" * depth
        out.append(f"{pad}{'ROOT' if sk.parents[j] < 0 else 'JOINT'} {sk.names[j]}")
        out.append(pad + "{")
        out.append(f"{pad}\tOFFSET {' '.join(num(v) for v in sk.offsets[j])}")
        if sk.channels[j]:
            out.append(f"{pad}\tCHANNELS {len(sk.channels[j])} {' '.join(sk.channels[j])}")
        for c in children[j]:
            joint(c, depth + 1)
        if sk.has_end[j]:
            out.append(f"{pad}\tEnd Site")
            out.append(pad + "\t{")
            out.append(f"{pad}\t\tOFFSET {' '.join(num(v) for v in sk.end_offsets[j])}")
            out.append(pad + "\t}")
        out.append(pad + "}")

    for root in children[-1]:
        joint(root, 0)
    out.append("MOTION")
    out.append(f"Frames: {motion.num_frames}")
    out.append(f"Frame Time: {motion.frame_time:.8f}")
    # The file lists joints depth first; the channel columns follow that order.
    order = [j for j in _depth_first(children)]
    starts = np.cumsum([0] + [len(c) for c in sk.channels])
    columns = np.concatenate([np.arange(starts[j], starts[j + 1]) for j in order]).astype(int)
    buf = io.StringIO()
    if motion.values.size:
        np.savetxt(buf, motion.values[:, columns], fmt=f"%.{precision}f", delimiter=" ")
    return "\n".join(out) + "\n" + buf.getvalue()


def _depth_first(children: dict[int, list[int]]):
    stack = list(reversed(children[-1]))
    while stack:
        j = stack.pop()
        yield j
        stack.extend(reversed(children[j]))


def write_bvh(path, motion: BvhMotion, precision: int = 6) -> None:
    """Write ``motion`` to ``path`` atomically (never with NaN or infinite numbers in it)."""
    fix = "the rig or the joints it was solved from are broken; check the bone map and the input"
    check_finite(f"the BVH offsets for {Path(path).name}", motion.skeleton.offsets, fix)
    check_finite(f"the BVH motion for {Path(path).name}", motion.values, fix)
    text = format_bvh(motion, precision)
    with atomic_write(path, "w") as f:
        f.write(text)
