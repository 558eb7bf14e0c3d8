# SPDX-License-Identifier: GPL-3.0-or-later
"""A rig (armature) description: bones, parents and rest pose, as Blender gives them.

Rest frames follow Blender's ``Bone.matrix_local`` convention: each bone's local Y axis points
from its head to its tail and its roll turns X and Z about Y. Positions are in armature space
(LiftRig's world is metres, Z up, the character facing -Y, its left at +X).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import LiftRigError
from .rotations import normalize, swing_rotation


@dataclass(frozen=True, eq=False)
class Rig:
    """Bones in an order where every parent comes before its children."""

    name: str
    bone_names: tuple[str, ...]
    parents: tuple[int, ...]      # index of each bone's parent, -1 for a root
    rest_heads: np.ndarray        # float64 [B, 3] armature space
    rest_tails: np.ndarray        # float64 [B, 3]
    rest_rotations: np.ndarray    # float64 [B, 3, 3] bone frames (columns X, Y = head->tail, Z)

    def __post_init__(self):
        n = len(self.bone_names)
        if len(set(self.bone_names)) != n:
            dup = next(b for b in self.bone_names if self.bone_names.count(b) > 1)
            raise LiftRigError(f"rig {self.name!r}: the bone name {dup!r} appears twice")
        if len(self.parents) != n:
            raise ValueError("one parent per bone")
        for j, p in enumerate(self.parents):
            if not -1 <= p < j:
                raise ValueError(f"bone {self.bone_names[j]!r}: its parent must come before it")
        for attr, shape in (("rest_heads", (n, 3)), ("rest_tails", (n, 3)),
                            ("rest_rotations", (n, 3, 3))):
            arr = np.asarray(getattr(self, attr), np.float64)
            if arr.shape != shape:
                raise ValueError(f"{attr} must have shape {list(shape)}, got {list(arr.shape)}")
            object.__setattr__(self, attr, arr)

    @property
    def num_bones(self) -> int:
        return len(self.bone_names)

    def index(self, name: str) -> int:
        try:
            return self.bone_names.index(name)
        except ValueError:
            raise LiftRigError(f"rig {self.name!r} has no bone named {name!r}") from None

    def children(self, bone: int) -> list[int]:
        return [j for j, p in enumerate(self.parents) if p == bone]

    def is_ancestor(self, ancestor: int, bone: int) -> bool:
        """True when ``ancestor`` is ``bone`` or lies on its chain to the root."""
        while bone >= 0:
            if bone == ancestor:
                return True
            bone = self.parents[bone]
        return False

    @property
    def lengths(self) -> np.ndarray:
        return np.linalg.norm(self.rest_tails - self.rest_heads, axis=-1)

    @classmethod
    def from_bones(cls, name: str, bones: Sequence[tuple], rolls=None) -> "Rig":
        """A rig from ``(bone, parent name or None, head [3], tail [3])`` in any order.

        ``rolls`` (radians, per bone, default 0) set the rest frames as Blender's bone roll
        does. A parent that is not a bone of the rig, or parents that form a cycle, raise a
        :class:`LiftRigError` that names the bone.
        """
        names = [b[0] for b in bones]
        if len(set(names)) != len(names):
            dup = next(b for b in names if names.count(b) > 1)
            raise LiftRigError(f"rig {name!r}: the bone name {dup!r} appears twice")
        parent_of = {b[0]: b[1] for b in bones}
        for bone, parent in parent_of.items():
            if parent is not None and parent not in parent_of:
                raise LiftRigError(f"rig {name!r}: bone {bone!r} has the parent {parent!r}, "
                                   "which is not a bone of the rig")
        order = topological_order(names, parent_of, name)
        pos = {b[0]: i for i, b in enumerate(bones)}
        heads = np.array([bones[pos[b]][2] for b in order], np.float64)
        tails = np.array([bones[pos[b]][3] for b in order], np.float64)
        roll = np.zeros(len(order)) if rolls is None else np.array([rolls[pos[b]] for b in order])
        return cls(name=name, bone_names=tuple(order),
                   parents=tuple(-1 if parent_of[b] is None else order.index(parent_of[b])
                                 for b in order),
                   rest_heads=heads, rest_tails=tails,
                   rest_rotations=bone_frames(heads, tails, roll))

    @classmethod
    def from_matrices(cls, name: str, bone_names: Sequence[str],
                      parent_names: Sequence[str | None], matrices: np.ndarray,
                      lengths: np.ndarray) -> "Rig":
        """A rig from Blender's armature data: ``Bone.matrix_local`` [B, 4, 4] and
        ``Bone.length`` [B] (in any bone order; parents by name, None for roots)."""
        m = np.asarray(matrices, np.float64)
        heads = m[:, :3, 3]
        tails = heads + m[:, :3, 1] * np.asarray(lengths, np.float64)[:, None]
        bones = [(b, p, h, t) for b, p, h, t in zip(bone_names, parent_names, heads, tails)]
        rig = cls.from_bones(name, bones)
        order = [list(bone_names).index(b) for b in rig.bone_names]
        object.__setattr__(rig, "rest_rotations", m[order, :3, :3].copy())
        return rig


def topological_order(names: Sequence[str], parent_of: dict, rig_name: str = "rig") -> list[str]:
    """Bone names depth first from the roots (parents before children, siblings in the given
    order, as a BVH file lists them); parents that form a cycle raise naming a bone in it."""
    children: dict = {None: []}
    for b in names:
        children.setdefault(b, [])
    for b in names:
        children[parent_of[b]].append(b)
    order: list[str] = []
    stack = list(reversed(children[None]))
    while stack:
        b = stack.pop()
        order.append(b)
        stack.extend(reversed(children[b]))
    if len(order) < len(names):
        placed = set(order)
        bone = next(b for b in names if b not in placed)
        chain = [bone]
        while parent_of[chain[-1]] not in chain:
            chain.append(parent_of[chain[-1]])
        cycle = chain[chain.index(parent_of[chain[-1]]):] + [parent_of[chain[-1]]]
        raise LiftRigError(f"rig {rig_name!r}: the parents of bone {cycle[0]!r} form a cycle "
                           f"({' -> '.join(cycle)}); a bone cannot be its own ancestor")
    return order


def bone_frames(heads: np.ndarray, tails: np.ndarray, rolls: np.ndarray) -> np.ndarray:
    """Rest frames [B, 3, 3] as Blender derives them from head, tail and roll: the smallest
    rotation taking +Y onto the bone, then the roll about the bone."""
    y = normalize(tails - heads)
    swing = swing_rotation(np.broadcast_to([0.0, 1.0, 0.0], y.shape), y)
    c, s = np.cos(rolls), np.sin(rolls)
    roll = np.zeros((len(rolls), 3, 3))
    roll[:, 0, 0] = c
    roll[:, 0, 2] = s
    roll[:, 1, 1] = 1.0
    roll[:, 2, 0] = -s
    roll[:, 2, 2] = c
    return swing @ roll
