# SPDX-License-Identifier: GPL-3.0-or-later
"""Training samples cut from sequences: the two papers' sampling schemes, plus flip augmentation.

* ``chunks`` (MixSTE): non-overlapping T-frame chunks on a fixed grid centred on the sequence; the
  frames before the start and after the end repeat the edge frame.
* ``centred`` (P-STMO): one window per frame, centred on it, of T frames taken every ``dilation``-th
  frame, edge-padded likewise.
With ``flip`` every window appears twice per epoch, as is and mirrored (x negated, left/right joints
swapped), as in the published data generators.
"""

from __future__ import annotations

import numpy as np

from ... import h36m as h36m_layout
from .h36m import Sequence


def chunk_starts(n: int, length: int) -> np.ndarray:
    """Starts of the ceil(n / length) chunks covering n frames, the spare frames split between the
    two ends (starts may be negative)."""
    count = -(-n // length)
    offset = (count * length - n) // 2
    return np.arange(count) * length - offset


def window_indices(n: int, centre: int, length: int, dilation: int) -> np.ndarray:
    """Frame indices of a window of ``length`` frames every ``dilation`` frames around ``centre``,
    clamped to the sequence (edge padding)."""
    half = length // 2
    return np.clip(centre + dilation * (np.arange(length) - half), 0, n - 1)


def flip_permutation(num_joints: int) -> tuple[int, ...]:
    """The left/right swap of a joint layout, by its joint count: 17 = Human3.6M-17 (MPI-INF-3DHP is
    reordered into it on loading), 15 = HumanEva-15."""
    from ...h36m import FLIP_PERMUTATION, NUM_JOINTS

    if num_joints == NUM_JOINTS:
        return FLIP_PERMUTATION
    from .humaneva import FLIP_PERMUTATION as HUMANEVA_FLIP, NUM_JOINTS as HUMANEVA_JOINTS

    if num_joints == HUMANEVA_JOINTS:
        return HUMANEVA_FLIP
    raise ValueError(f"no left/right mirror known for a {num_joints}-joint layout")


def mirror(poses):
    """Left/right mirror of poses [..., J, C] (numpy or torch): x negated, left and right joints
    swapped (J = 17: Human3.6M-17; J = 15: HumanEva-15)."""
    return h36m_layout.mirror(poses, flip_permutation(poses.shape[-2]))


class WindowDataset:
    """A map-style dataset (for torch's DataLoader) of (2D [T, J, 2], 3D [T, J, 3]) float32 windows."""

    def __init__(self, sequences: list[Sequence], length: int, kind: str, dilation: int = 1,
                 flip: bool = False):
        if kind not in ("chunks", "centred"):
            raise ValueError(f"unknown sampling {kind!r}")
        self.sequences, self.length, self.kind, self.dilation = sequences, length, kind, dilation
        rows = []  # (sequence, start or centre)
        for s_index, seq in enumerate(sequences):
            points = chunk_starts(len(seq), length) if kind == "chunks" else np.arange(len(seq))
            rows.append(np.stack([np.full(len(points), s_index), points], axis=1))
        rows = np.concatenate(rows) if rows else np.zeros((0, 2), np.int64)
        flips = [False, True] if flip else [False]
        self.index = np.concatenate([np.concatenate([rows, np.full((len(rows), 1), f)], axis=1)
                                     for f in flips]).astype(np.int64)  # [K, 3]

    def __len__(self) -> int:
        return len(self.index)

    def frames(self, s_index: int, point: int) -> np.ndarray:
        n = len(self.sequences[s_index])
        if self.kind == "chunks":
            return np.clip(np.arange(point, point + self.length), 0, n - 1)
        return window_indices(n, point, self.length, self.dilation)

    def __getitem__(self, k: int):
        import torch

        s_index, point, flipped = (int(v) for v in self.index[k])
        seq = self.sequences[s_index]
        idx = self.frames(s_index, point)
        x, y = seq.pose2d[idx], seq.pose3d[idx]  # [T, J, 2], [T, J, 3]
        if flipped:
            x, y = mirror(x), mirror(y)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
