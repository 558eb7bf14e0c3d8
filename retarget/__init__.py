# SPDX-License-Identifier: GPL-3.0-or-later
"""Retargeting: lifted joints -> world path, clean motion, bone rotations on any rig, BVH.

numpy and scipy only. The entry points:

- :func:`end_to_end.retarget_clip` (a :class:`~liftrig.formats.Joints3D` clip -> :class:`end_to_end.RetargetResult`)
  and :func:`end_to_end.retarget_points` (world points -> result);
- :func:`export.write_pose_bvh` (a solved pose -> BVH file), :mod:`bvh` (read, FK, write);
- :class:`rig.Rig` (``Rig.from_matrices`` takes Blender's rest matrices), :mod:`presets`
  (``detect_preset``, ``preset``), :func:`bonemap.bind` and :func:`solver.solve_pose`, whose
  :class:`solver.RigPose` has Blender-ready ``rotations`` (w, x, y, z) and ``location``.
"""
