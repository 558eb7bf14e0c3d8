# SPDX-License-Identifier: GPL-3.0-or-later
"""Transformer building blocks shared by the lifting networks (timm-style names).

``Attention`` runs :func:`torch.nn.functional.scaled_dot_product_attention` by default; setting
``attention_impl(model, "explicit")`` switches every attention layer of a model to a plain
softmax(QK^T)V: the straightforward baseline of the benchmark, and for MixSTE in bf16 on CPUs
(where its batched matmuls use the bf16 units and the fused kernel does not) the faster of the two.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout: float = 0.0,
           explicit: bool = False) -> torch.Tensor:
    """Scaled dot-product attention over the last two dims; q, k, v: [B, H, N, c]."""
    if not explicit:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)  # [B, H, N, N]
    # (in bf16 the softmax accumulates in fp32 inside and rounds its output once)
    return F.dropout(scores.softmax(dim=-1), dropout) @ v


class DropPath(nn.Module):
    """Stochastic depth: drops a sample's whole residual branch during training."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Mlp(nn.Module):
    """The per-token feed-forward part of a transformer block: Linear, GELU, Linear."""

    fused_pairs = (("fc1", "act"),)  # act is applied to fc1's output alone (inference fuses them)

    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection, split in (q, k, v) order."""

    def __init__(self, dim: int, num_heads: int, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)
        self.explicit = False  # True: plain softmax attention (the benchmark's baseline)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, C // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, N, c]
        x = attend(q, k, v, self.attn_drop if self.training else 0.0, self.explicit)
        x = x.transpose(1, 2).reshape(B, N, C)  # [B, N, H*c]
        return self.proj_drop(self.proj(x))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 2.0, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.0, eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def attention_impl(model: nn.Module, impl: str) -> nn.Module:
    """Switch every attention layer of ``model`` to ``"sdpa"`` (default) or ``"explicit"``."""
    if impl not in ("sdpa", "explicit"):
        raise ValueError(f"attention impl must be 'sdpa' or 'explicit', not {impl!r}")
    for module in model.modules():
        if hasattr(module, "explicit"):
            module.explicit = impl == "explicit"
    return model
