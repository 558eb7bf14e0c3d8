# SPDX-License-Identifier: GPL-3.0-or-later
"""Bulk keyframe writing: each F-curve is created once and filled with one
``keyframe_points.add`` and one ``foreach_set`` (no per-key ``keyframe_insert``).

Blender 4.4+ stores F-curves in a slot's channelbag (slotted actions); 4.2 and 4.3 keep them
in ``action.fcurves``. :func:`new_action` and :func:`assign_action` hide the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import bpy
import numpy as np

from ..progress import ProgressFn, report

SLOTTED_ACTIONS = bpy.app.version >= (4, 4, 0)
LINEAR = 1  # index of 'LINEAR' in FCurve keyframe interpolation (CONSTANT, LINEAR, BEZIER, ...)


@dataclass
class Channel:
    """One animated value: ``data_path[index]`` over the clip, grouped under ``group``."""

    data_path: str
    index: int
    group: str
    values: np.ndarray  # [F]


@dataclass
class NewAction:
    """An action being written, with the slot (4.4+) and channel container its curves go in."""

    action: "bpy.types.Action"
    slot: object = None
    channels: object = None  # the slot's channelbag (4.4+) or the action itself

    def new_fcurve(self, data_path: str, index: int, group: str):
        if SLOTTED_ACTIONS:
            groups = self.channels.groups
            grp = groups.get(group) if hasattr(groups, "get") else None
            if grp is None:
                grp = next((g for g in groups if g.name == group), None) or groups.new(group)
            fc = self.channels.fcurves.new(data_path, index=index)
            fc.group = grp
            return fc
        return self.action.fcurves.new(data_path, index=index, action_group=group)


def new_action(name: str, id_type: str = "OBJECT", slot_name: str = "") -> NewAction:
    """A new empty action named ``name`` (with one slot for an ``id_type`` on 4.4+)."""
    action = bpy.data.actions.new(name)
    if not SLOTTED_ACTIONS:
        return NewAction(action, None, action)
    from bpy_extras import anim_utils

    slot = action.slots.new(id_type=id_type, name=slot_name or name)
    return NewAction(action, slot, anim_utils.action_ensure_channelbag_for_slot(action, slot))


def write_channels(target: NewAction, frames: np.ndarray, channels: Iterable[Channel],
                   progress: ProgressFn | None = None, total: int | None = None) -> int:
    """Add one linear F-curve per channel with keys at ``frames`` [F]; returns the curve count.

    ``progress`` gets ("writing keys", curves done, ``total``) and may raise Cancelled.
    """
    frames = np.asarray(frames, np.float32)
    count = len(frames)
    co = np.empty((count, 2), np.float32)
    co[:, 0] = frames
    interpolation = np.full(count, LINEAR, np.int32)
    written = 0
    for channel in channels:
        values = np.asarray(channel.values, np.float32)
        if values.shape != (count,):
            raise ValueError(f"{channel.data_path}[{channel.index}]: {values.shape} values "
                             f"for {count} frames")
        co[:, 1] = values
        fc = target.new_fcurve(channel.data_path, channel.index, channel.group)
        points = fc.keyframe_points
        points.add(count)
        points.foreach_set("co", co.ravel())
        points.foreach_set("interpolation", interpolation)
        fc.update()
        written += 1
        if written % 8 == 0:
            report(progress, "writing keys", written, total)
    report(progress, "writing keys", written, total)
    return written


def assign_action(obj, target: NewAction) -> None:
    """Make ``target`` the object's active action (and its slot the active slot on 4.4+)."""
    anim = obj.animation_data or obj.animation_data_create()
    anim.action = target.action
    if SLOTTED_ACTIONS and anim.action_slot != target.slot:
        anim.action_slot = target.slot


def pose_channels(bone_names, rotations: np.ndarray, location_bone: str | None = None,
                  location: np.ndarray | None = None) -> list[Channel]:
    """Channels for pose bones: ``rotation_quaternion`` [F, B, 4] (w, x, y, z) per bone and
    ``location`` [F, 3] on ``location_bone``."""
    out = []
    for b, name in enumerate(bone_names):
        path = f'pose.bones["{bpy.utils.escape_identifier(name)}"]'
        if name == location_bone and location is not None:
            out += [Channel(f"{path}.location", i, name, location[:, i]) for i in range(3)]
        out += [Channel(f"{path}.rotation_quaternion", i, name, rotations[:, b, i])
                for i in range(4)]
    return out


def action_fcurves_for(obj) -> list:
    """The F-curves animating ``obj``: its slot's channelbag on 4.4+, else ``action.fcurves``."""
    anim = obj.animation_data
    if anim is None or anim.action is None:
        return []
    if SLOTTED_ACTIONS:
        from bpy_extras import anim_utils

        bag = anim_utils.action_get_channelbag_for_slot(anim.action, anim.action_slot)
        return list(bag.fcurves) if bag else []
    return list(anim.action.fcurves)
