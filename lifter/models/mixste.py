# SPDX-License-Identifier: GPL-3.0-or-later
"""MixSTE (Zhang et al., CVPR 2022): a seq2seq lifter alternating spatial and temporal attention.

Each joint of each frame is a token. Every loop runs a spatial block over the joints of one frame,
then a temporal block over one joint's trajectory, so every output frame sees the whole window.
Published configuration: dim 512, depth 8, 8 heads, T = 243 frames of 50 fps footage.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import Block


class MixSTE(nn.Module):
    """2D keypoints [B, T, J, 2] (normalised screen coordinates) -> 3D joints [B, T, J, 3]."""

    def __init__(self, num_frames: int = 243, num_joints: int = 17, in_chans: int = 2,
                 dim: int = 512, depth: int = 8, num_heads: int = 8, mlp_ratio: float = 2.0,
                 drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.1):
        super().__init__()
        self.num_frames, self.num_joints, self.depth = num_frames, num_joints, depth
        self.embed = nn.Linear(in_chans, dim)  # one joint's 2D point -> one token
        self.spatial_pos = nn.Parameter(torch.zeros(1, num_joints, dim))
        self.temporal_pos = nn.Parameter(torch.zeros(1, num_frames, dim))
        self.pos_drop = nn.Dropout(drop)
        rates = torch.linspace(0, drop_path, depth).tolist()  # stochastic depth grows per loop
        self.spatial_blocks = nn.ModuleList(
            Block(dim, num_heads, mlp_ratio, drop, attn_drop, rates[i]) for i in range(depth))
        self.temporal_blocks = nn.ModuleList(
            Block(dim, num_heads, mlp_ratio, drop, attn_drop, rates[i]) for i in range(depth))
        # One norm each, shared by all loops (as published).
        self.spatial_norm = nn.LayerNorm(dim, eps=1e-6)
        self.temporal_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, J, _ = x.shape
        if T != self.num_frames or J != self.num_joints:
            raise ValueError(f"MixSTE expects [B, {self.num_frames}, {self.num_joints}, 2], "
                             f"got {list(x.shape)}")
        x = self.pos_drop(self.embed(x) + self.spatial_pos)  # [B, T, J, C]
        C = x.shape[-1]
        for i in range(self.depth):
            x = self.spatial_norm(self.spatial_blocks[i](x.reshape(B * T, J, C)))  # [B*T, J, C]
            x = x.view(B, T, J, C).transpose(1, 2).reshape(B * J, T, C)  # [B*J, T, C]
            if i == 0:
                x = self.pos_drop(x + self.temporal_pos)
            x = self.temporal_norm(self.temporal_blocks[i](x))  # [B*J, T, C]
            x = x.view(B, J, T, C).transpose(1, 2)  # [B, T, J, C]
        return self.head(x)  # [B, T, J, 3]
