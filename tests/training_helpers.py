# SPDX-License-Identifier: GPL-3.0-or-later
"""Test data for the training package: a tiny Human3.6M in the exact preprocessed npz layout.

A 32-joint skeleton wanders about (smooth random walks of the root and of every joint's offset),
is seen by the four Human3.6M cameras (their real intrinsics, extrinsics and lens distortion) and
saved as ``data_3d_h36m.npz`` + ``data_2d_h36m_<source>.npz``, the 2D two frames longer than the
3D, as the real files are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liftrig.training.data import cameras
from liftrig.training.data.h36m import KEEP_JOINTS_32

ALL_ACTIONS = ("Directions 1", "Discussion", "Eating", "Greeting", "Phoning", "TakingPhoto",
               "Posing", "Purchases", "Sitting", "SittingDown", "Smoking", "Waiting",
               "WalkingDog", "Walking", "WalkTogether 1")
METADATA = {"layout_name": "h36m", "num_joints": 17,
            "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}


def random_motion(frames: int, rng: np.random.Generator) -> np.ndarray:
    """World positions [frames, 32, 3] in metres of a body-sized 32-joint point cloud in motion."""
    template = rng.uniform([-0.3, -0.3, -0.9], [0.3, 0.3, 0.8], size=(32, 3))
    template[0] = 0.0  # the root
    steps = rng.normal(scale=0.01, size=(frames, 32, 3)).cumsum(axis=0)
    steps[:, 0] = 0.0
    root = np.array([0.0, 0.0, 0.95]) + rng.normal(scale=0.02, size=(frames, 3)).cumsum(axis=0)
    return (root[:, None] + template + steps).astype(np.float32)


def make_h36m(root: Path, subjects=("S1", "S5", "S9", "S11"), actions=ALL_ACTIONS[:3],
              frames: int = 40, source: str = "gt", seed: int = 0, extra_2d: int = 2) -> Path:
    """Write the two npz files under ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    pos3d, pos2d = {}, {}
    for subject in subjects:
        pos3d[subject], pos2d[subject] = {}, {}
        for action in actions:
            world = random_motion(frames + extra_2d, rng)
            pos3d[subject][action] = world[:frames]
            views = []
            for cam in range(4):
                cam_space = cameras.world_to_camera(world[:, KEEP_JOINTS_32], subject, cam)
                views.append(cameras.project(cam_space, cam).astype(np.float32))
            pos2d[subject][action] = views
    np.savez_compressed(root / "data_3d_h36m.npz", positions_3d=pos3d)
    np.savez_compressed(root / f"data_2d_h36m_{source}.npz", positions_2d=pos2d, metadata=METADATA)
    return root


def write_recipe(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def mixste_recipe(data: Path, out: Path, epochs: int = 2, name: str = "tiny_mixste",
                  extra_train: str = "", lr: float = 1e-3, drop_path: float = 0.1,
                  batch_size: int = 4) -> str:
    if "workers" not in extra_train:
        extra_train += "\nworkers = 0"
    return f"""
name = "{name}"
[data]
root = "{data}"
source = "gt"
train_subjects = ["S1", "S5"]
test_subjects = ["S9", "S11"]
val_fraction = 0.1
[model]
num_frames = 9
dim = 16
depth = 1
num_heads = 2
drop_path = {drop_path}
[train]
task = "mixste"
epochs = {epochs}
batch_size = {batch_size}
optimizer = "adamw"
lr = {lr}
weight_decay = 0.1
lr_decay = 0.99
sampling = "chunks"
{extra_train}
[output]
dir = "{out}"
"""


def pstmo_recipe(data: Path, out: Path, stage: int, epochs: int = 2, pretrained: str = "") -> str:
    task = "pstmo-pretrain" if stage == 1 else "pstmo"
    more = f'pretrained = "{pretrained}"\namsgrad = true' if stage == 2 else "mask_frames = 0.6\nmask_joints = 3"
    return f"""
name = "tiny_pstmo_{stage}"
[data]
root = "{data}"
source = "gt"
train_subjects = ["S1", "S5"]
test_subjects = ["S9", "S11"]
val_fraction = 0.1
[model]
num_frames = 9
dim = 16
hidden = 32
layers = 2
num_heads = 2
dropout = 0.0
[train]
task = "{task}"
epochs = {epochs}
batch_size = 32
optimizer = "adam"
lr = 1e-3
lr_decay = 0.97
sampling = "centred"
dilation = 2
workers = 0
max_steps_per_epoch = 12
{more}
[output]
dir = "{out}"
"""
