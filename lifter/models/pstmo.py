# SPDX-License-Identifier: GPL-3.0-or-later
"""P-STMO (Shan et al., ECCV 2022): a many-to-one lifter with a pre-trainable encoder.

Stage II (:class:`PSTMO`, what lifts): a per-frame MLP turns each frame's 2D pose into one token, a
temporal transformer relates the T tokens, and a strided transformer shrinks them 243 -> 81 -> 27
-> 9 -> 3 -> 1 to the centre frame's 3D pose. Stage I (:class:`PSTMOPretrain`, used by training)
puts a small decoder behind the same encoder to rebuild masked frames and joints.
Published: dim 256, FFN 512, 8 heads, 3 (P-STMO-S) or 4 (P-STMO) encoder layers, T = 243 frames
taken every 2nd frame of 50 fps footage (25 fps).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import attend

# The aggregator's strides for the published window lengths (each shrinks the window to 1 frame).
PUBLISHED_STRIDES = {9: (1, 3, 3), 27: (3, 3, 3), 81: (3, 3, 3, 3), 243: (3, 3, 3, 3, 3),
                     351: (3, 9, 13)}
NUM_AGGREGATOR_POS = 3  # position embeddings added before the aggregator's first three layers


def default_strides(num_frames: int) -> tuple[int, ...]:
    """The published strides for ``num_frames``, else stride 3 throughout for a power of 3."""
    if num_frames in PUBLISHED_STRIDES:
        return PUBLISHED_STRIDES[num_frames]
    strides, n = [], num_frames
    while n > 1 and n % 3 == 0:
        strides.append(3)
        n //= 3
    if n != 1:
        raise ValueError(f"no default strides for a window of {num_frames} frames; pass strides")
    return tuple(strides)


def channels_last(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-channel module (BatchNorm1d) to x [..., C], whatever the leading dims."""
    return module(x.reshape(-1, x.shape[-1])).view(x.shape)


class TransformerNorm(nn.Module):
    """The original Transformer's layer norm: w * (x - mean) / (std + eps) + b, unbiased std."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        if not torch.is_grad_enabled():
            # Inference: the same value from one fused layer-norm pass (4x faster than std()):
            # with y = (x - mean) * rstd and std = sqrt(n / (n - 1)) / rstd,
            # (x - mean) / (std + eps) = y / (sqrt(n / (n - 1)) + eps * rstd).
            y, _, rstd = torch.native_layer_norm(x, [n], None, None, 1e-30)
            return torch.addcmul(self.bias, y / ((n / (n - 1)) ** 0.5 + self.eps * rstd),
                                 self.weight)
        var, mean = torch.var_mean(x, dim=-1, keepdim=True)  # unbiased
        return self.weight * (x - mean) / (var.sqrt() + self.eps) + self.bias


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention with separate q, k, v and output projections."""

    def __init__(self, dim: int, num_heads: int, attn_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = attn_drop
        self.explicit = False  # True: plain softmax attention (the benchmark's baseline)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = (lin(x).view(B, N, self.num_heads, -1).transpose(1, 2)  # [B, H, N, c]
                   for lin in (self.q, self.k, self.v))
        x = attend(q, k, v, self.attn_drop if self.training else 0.0, self.explicit)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class FeedForward(nn.Module):
    """Linear, ReLU, dropout, Linear."""

    fused_pairs = (("fc1", "act"),)  # act is applied to fc1's output alone (inference fuses them)

    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer with dropout on both residual branches."""

    def __init__(self, dim: int, hidden: int, num_heads: int, drop: float = 0.1):
        super().__init__()
        self.norm1 = TransformerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads, drop)
        self.norm2 = TransformerNorm(dim)
        self.ffn = FeedForward(dim, hidden, drop)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.ffn(self.norm2(x)))


class StridedFeedForward(nn.Module):
    """A feed-forward that shrinks time: per-frame Linear, ReLU, then a kernel-3 conv of stride s."""

    fused_pairs = (("fc1", "act"),)

    def __init__(self, dim: int, hidden: int, stride: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(drop)
        self.conv = nn.Conv1d(hidden, dim, kernel_size=3, stride=stride, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.fc1(x)))  # [B, T, hidden]
        return self.conv(x.transpose(1, 2)).transpose(1, 2)  # [B, ceil(T / s), C]


class StridedLayer(nn.Module):
    """Aggregator layer: attention, then a strided feed-forward whose skip keeps every s-th frame."""

    def __init__(self, dim: int, hidden: int, num_heads: int, stride: int, drop: float = 0.1):
        super().__init__()
        self.stride = stride
        self.norm1 = TransformerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads, drop)
        self.norm2 = TransformerNorm(dim)
        self.ffn = StridedFeedForward(dim, hidden, stride, drop)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))  # [B, T, C]
        return x[:, ::self.stride] + self.drop(self.ffn(self.norm2(x)))  # [B, ceil(T / s), C]


class ResidualMlp(nn.Module):
    """Two (Linear, BatchNorm, LeakyReLU, dropout) steps around a skip connection."""

    def __init__(self, dim: int, drop: float = 0.1):
        super().__init__()
        self.fc1, self.bn1 = nn.Linear(dim, dim), nn.BatchNorm1d(dim)
        self.fc2, self.bn2 = nn.Linear(dim, dim), nn.BatchNorm1d(dim)
        self.act = nn.LeakyReLU(0.2)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop(self.act(channels_last(self.bn1, self.fc1(x))))
        y = self.drop(self.act(channels_last(self.bn2, self.fc2(y))))
        return x + y


class FrameEncoder(nn.Module):
    """The per-frame spatial MLP: one frame's J*2 coordinates -> one token of ``dim`` features."""

    def __init__(self, in_features: int, hidden: int, dim: int, num_blocks: int = 1,
                 drop: float = 0.1):
        super().__init__()
        self.fc_in, self.bn_in = nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden)
        self.act = nn.LeakyReLU(0.2)
        self.drop = nn.Dropout(drop)
        self.blocks = nn.ModuleList(ResidualMlp(hidden, drop) for _ in range(num_blocks))
        self.fc_out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(channels_last(self.bn_in, self.fc_in(x))))
        for block in self.blocks:
            x = block(x)
        return self.fc_out(x)


class Head(nn.Module):
    """BatchNorm then a per-token Linear (the published 1x1 convolution)."""

    def __init__(self, dim: int, out: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(dim)
        self.proj = nn.Linear(dim, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(channels_last(self.norm, x))


class _Encoder(nn.Module):
    """What both stages share: frame encoder, temporal position embedding, temporal layers."""

    def __init__(self, num_frames, num_joints, in_chans, dim, hidden, layers, num_heads, dropout):
        super().__init__()
        self.num_frames, self.num_joints = num_frames, num_joints
        self.frame_encoder = FrameEncoder(num_joints * in_chans, 2 * dim, dim, 1, dropout)
        self.temporal_pos = nn.Parameter(torch.randn(1, num_frames, dim))
        self.temporal_layers = nn.ModuleList(
            EncoderLayer(dim, hidden, num_heads, dropout) for _ in range(layers))
        # Part of the published model, never applied in its forward; kept for checkpoints.
        self.temporal_final_norm = TransformerNorm(dim)

    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        """2D poses [..., J, 2] -> one token per frame [..., C] (frames are independent)."""
        return self.frame_encoder(x.flatten(-2))

    def _check(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:3]) != (self.num_frames, self.num_joints):
            raise ValueError(f"{type(self).__name__} expects [B, {self.num_frames}, "
                             f"{self.num_joints}, 2], got {list(x.shape)}")


class PSTMO(_Encoder):
    """2D keypoints [B, T, J, 2] -> the centre frame's 3D joints [B, 1, J, 3].

    In training mode it returns ``(centre, every_frame)``, the second [B, T, J, 3] from the
    auxiliary head that supervises all frames.
    """

    def __init__(self, num_frames: int = 243, num_joints: int = 17, in_chans: int = 2,
                 dim: int = 256, hidden: int = 512, layers: int = 3, num_heads: int = 8,
                 strides: tuple[int, ...] | None = None, dropout: float = 0.1):
        super().__init__(num_frames, num_joints, in_chans, dim, hidden, layers, num_heads, dropout)
        self.strides = tuple(strides) if strides is not None else default_strides(num_frames)
        length = num_frames
        for s in self.strides:
            length = -(-length // s)
        if length != 1:
            raise ValueError(f"strides {self.strides} shrink {num_frames} frames to {length}, not 1")
        self.aggregator_pos = nn.ParameterList(
            nn.Parameter(torch.randn(1, num_frames, dim)) for _ in range(NUM_AGGREGATOR_POS))
        self.aggregator_layers = nn.ModuleList(
            StridedLayer(dim, hidden, num_heads, s, dropout) for s in self.strides)
        self.aggregator_final_norm = TransformerNorm(dim)  # published but unused, as above
        self.head_all = Head(dim, 3 * num_joints)
        self.head = Head(dim, 3 * num_joints)

    def forward_tokens(self, tokens: torch.Tensor):
        """Frame tokens [B, T, C] (from :meth:`encode_frames`) -> the 3D pose(s)."""
        x = tokens + self.temporal_pos
        for layer in self.temporal_layers:
            x = layer(x)  # [B, T, C]
        every_frame = x
        for i, layer in enumerate(self.aggregator_layers):
            if i < NUM_AGGREGATOR_POS:
                x = x + self.aggregator_pos[i][:, :x.shape[1]]
            x = layer(x)  # [B, T / s, C]
        B = x.shape[0]
        centre = self.head(x).view(B, 1, self.num_joints, 3)
        if not self.training:
            return centre
        return centre, self.head_all(every_frame).view(B, -1, self.num_joints, 3)

    def forward(self, x: torch.Tensor):
        self._check(x)
        return self.forward_tokens(self.encode_frames(x))


class PSTMOPretrain(_Encoder):
    """Stage I: rebuild masked 2D poses. Its encoder's weights are those of :class:`PSTMO`."""

    def __init__(self, num_frames: int = 243, num_joints: int = 17, in_chans: int = 2,
                 dim: int = 256, hidden: int = 512, layers: int = 3, num_heads: int = 8,
                 dropout: float = 0.1):
        super().__init__(num_frames, num_joints, in_chans, dim, hidden, layers, num_heads, dropout)
        dec = dim // 2
        self.encoder_norm = TransformerNorm(dim)
        self.to_decoder = nn.Linear(dim, dec, bias=False)
        self.decoder_pos = nn.Parameter(torch.randn(1, num_frames, dec))
        self.mask_token = nn.Parameter(torch.randn(1, 1, dec))
        self.joint_mask_token = nn.Parameter(torch.randn(1, 1, in_chans))
        self.decoder_layers = nn.ModuleList(
            EncoderLayer(dec, hidden // 2, num_heads, dropout) for _ in range(layers - 1))
        self.decoder_final_norm = TransformerNorm(dec)  # published but unused
        self.head = Head(dec, in_chans * num_joints)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor,
                joint_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, T, J, 2]; frame_mask [T] bool, True = hidden frame; joint_mask [T, J] bool.

        Returns the reconstruction [B, T, J, 2] of every frame, in frame order.
        """
        self._check(x)
        B, T, J, _ = x.shape
        if joint_mask is not None:  # hidden joints become a learned 2D token
            x = torch.where(joint_mask[None, :, :, None], self.joint_mask_token.view(1, 1, 1, -1), x)
        tokens = self.encode_frames(x) + self.temporal_pos  # [B, T, C]
        visible = tokens[:, ~frame_mask]  # [B, T_visible, C]
        for layer in self.temporal_layers:
            visible = layer(visible)
        visible = self.to_decoder(self.encoder_norm(visible))  # [B, T_visible, C / 2]
        x = self.mask_token.expand(B, T, -1).clone()
        x[:, ~frame_mask] = visible.to(x.dtype)
        x = x + self.decoder_pos  # [B, T, C / 2]
        for layer in self.decoder_layers:
            x = layer(x)
        return self.head(x).view(B, T, J, -1)
