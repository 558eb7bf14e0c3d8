# SPDX-License-Identifier: GPL-3.0-or-later
"""Orchestration, without Blender: the stages run in order on one clip.

``clips`` (video or ``.npz`` -> 3D joints, and the joints cache), ``solve`` (joints -> motion on
a rig, in this Python or a worker process: the path every shell takes), ``worker`` (that worker
process's side, and the add-on's short checks) and ``worker_process`` (starting it), ``doctor`` (what a Python can do for
LiftRig), ``commands`` (``liftrig doctor``).
"""
