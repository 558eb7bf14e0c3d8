# SPDX-License-Identifier: GPL-3.0-or-later
"""Training losses (torch), one function per term, as the papers define them."""

from __future__ import annotations

import torch

# MixSTE's per-joint weights (Human3.6M-17 order): extremities count more.
MIXSTE_JOINT_WEIGHTS = (1, 1, 2.5, 2.5, 1, 2.5, 2.5, 1, 1, 1, 1.5, 1.5, 4, 4, 1.5, 4, 4)


def mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance per joint; pred, target [..., J, C]."""
    return torch.linalg.vector_norm(pred - target, dim=-1).mean()


def weighted_mpjpe(pred: torch.Tensor, target: torch.Tensor, weights) -> torch.Tensor:
    """Mean over frames and joints of w_j * |pred - target|; [B, T, J, 3], weights [J]."""
    w = torch.as_tensor(weights, dtype=pred.dtype, device=pred.device)
    return (w * torch.linalg.vector_norm(pred - target, dim=-1)).mean()


def temporal_consistency(pred: torch.Tensor, weights) -> torch.Tensor:
    """Weighted mean squared frame-to-frame change of the prediction [B, T, J, 3] (MixSTE's TCLoss)."""
    w = torch.as_tensor(weights, dtype=pred.dtype, device=pred.device)
    step = pred[:, 1:] - pred[:, :-1]  # [B, T-1, J, 3]
    return (w[:, None] * step.square()).mean()


def mpjve(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint velocity error: MPJPE of the frame-to-frame differences; [B, T, J, 3]."""
    return mpjpe(pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1])


def bone_length_consistency(pred: torch.Tensor, bones) -> torch.Tensor:
    """Mean absolute change of each bone's length within a window about its mean there;
    pred [B, T, J, 3], bones: (parent, child) pairs. A person's bones keep their length, so any
    change is error (LiftRig's addition to MixSTE's loss, for its default model)."""
    parents, children = zip(*bones)
    lengths = torch.linalg.vector_norm(pred[..., list(children), :] - pred[..., list(parents), :],
                                       dim=-1)                                  # [B, T, bones]
    return (lengths - lengths.mean(dim=1, keepdim=True)).abs().mean()


def mixste_loss(pred: torch.Tensor, target: torch.Tensor, tc_weight: float = 0.5,
                velocity_weight: float = 2.0, joint_weights=None) -> torch.Tensor:
    """Weighted MPJPE + 0.5 x temporal consistency + 2.0 x MPJVE, as in MixSTE's training code.
    Default weights: MixSTE's for 17 joints, the same body parts' for HumanEva-15."""
    if joint_weights is None:
        joint_weights = MIXSTE_JOINT_WEIGHTS
        if pred.shape[-2] != len(MIXSTE_JOINT_WEIGHTS):
            from .data.humaneva import MIXSTE_JOINT_WEIGHTS as HUMANEVA_WEIGHTS

            if pred.shape[-2] != len(HUMANEVA_WEIGHTS):
                raise ValueError(f"no MixSTE joint weights for {pred.shape[-2]} joints")
            joint_weights = HUMANEVA_WEIGHTS
    return (weighted_mpjpe(pred, target, joint_weights)
            + tc_weight * temporal_consistency(pred, joint_weights)
            + velocity_weight * mpjve(pred, target))


def pstmo_loss(centre: torch.Tensor, every_frame: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """P-STMO stage II: MPJPE of all frames [B, T, J, 3] + MPJPE of the centre frame [B, 1, J, 3]."""
    mid = target.shape[1] // 2
    return mpjpe(every_frame, target) + mpjpe(centre, target[:, mid:mid + 1])
