# SPDX-License-Identifier: GPL-3.0-or-later
"""The papers' evaluation: whole test sequences, flip test-time augmentation, per-action errors.

MixSTE is run on the same non-overlapping edge-padded chunks it trains on; P-STMO on one centred
window per frame. Errors are averaged over all frames (all cameras) of an action, then over the 15
actions, and printed as the papers' table (millimetres).
"""

from __future__ import annotations

import numpy as np

from . import metrics
from .data.h36m import ACTIONS, Sequence, action_group
from .data.windows import chunk_starts, window_indices


def _mirror_t(x):
    """Left/right mirror of poses [..., J, C] (torch), in the layout that J joints mean."""
    from .data.windows import mirror

    return mirror(x)


def predict(model, architecture: str, pose2d: np.ndarray, dilation: int = 1, flip: bool = True,
            batch_size: int = 64, device="cpu") -> np.ndarray:
    """3D poses [N, J, 3] (root at the origin) for one sequence's 2D [N, J, 2] (screen coords)."""
    import torch

    model.eval()
    T, n = model.num_frames, len(pose2d)
    x = torch.as_tensor(pose2d, dtype=torch.float32, device=device)  # [N, J, 2]
    out = torch.zeros(n, x.shape[1], 3, device=device)
    with torch.inference_mode():
        if architecture == "mixste":
            starts = chunk_starts(n, T)
            for b in range(0, len(starts), batch_size):
                idx = np.stack([np.clip(np.arange(s, s + T), 0, n - 1) for s in starts[b:b + batch_size]])
                windows = x[torch.as_tensor(idx, device=device)]  # [b, T, J, 2]
                pred = model(windows).float()
                if flip:
                    pred = 0.5 * (pred + _mirror_t(model(_mirror_t(windows)).float()))
                for k, s in enumerate(starts[b:b + batch_size]):
                    lo, hi = max(s, 0), min(s + T, n)
                    out[lo:hi] = pred[k, lo - s:hi - s]
        elif architecture == "pstmo":
            clips = [x, _mirror_t(x)] if flip else [x]
            tokens = [model.encode_frames(c) for c in clips]  # each [N, C]
            for i in range(0, n, batch_size):
                idx = np.stack([window_indices(n, c, T, dilation) for c in range(i, min(n, i + batch_size))])
                idx = torch.as_tensor(idx, device=device)
                centres = [model.forward_tokens(t[idx]).float()[:, 0] for t in tokens]  # [b, J, 3]
                pred = centres[0] if not flip else 0.5 * (centres[0] + _mirror_t(centres[1]))
                out[i:i + len(idx)] = pred
        else:
            raise ValueError(f"{architecture} does not predict 3D poses")
    out[:, 0] = 0.0
    return out.cpu().numpy()


KEYS = ("P1", "P2", "MPJVE", "PCK", "AUC")


def evaluate(model, architecture: str, sequences: list[Sequence], dilation: int = 1,
             flip: bool = True, batch_size: int = 64, device="cpu") -> dict:
    """Per-group errors: {"P1": {group: mm}, "P2": ..., "MPJVE": ..., "PCK": {group: %},
    "AUC": ..., "frames": ...}. A group is the Human3.6M action, or what the sequence names as its
    ``group`` (HumanEva: action and subject; MPI-INF-3DHP: the test sequence). Every key also has
    "Avg" (the mean over the groups, the Human3.6M actions where present) and "All" (over all
    frames). Only frames marked in a sequence's ``valid`` mask count. PCK (150 mm) and AUC are over
    MPI-INF-3DHP's 14 evaluation joints for 17-joint poses, over all joints otherwise."""
    from .data.mpi3dhp import PCK_JOINTS

    sums = {key: {} for key in KEYS}
    counts = {key: {} for key in KEYS}
    for seq in sequences:
        pred = predict(model, architecture, seq.pose2d, dilation, flip, batch_size, device)
        gt = seq.pose3d.astype(np.float64)
        group = getattr(seq, "group", None) or action_group(seq.action)
        valid = getattr(seq, "valid", None)
        keep = np.ones(len(gt), bool) if valid is None else np.asarray(valid, bool)
        joints = PCK_JOINTS if gt.shape[1] == 17 else None
        p, g = pred[keep], gt[keep]
        for key, errs, scale in (
                ("P1", metrics.mpjpe(p, g), 1000.0), ("P2", metrics.p_mpjpe(p, g), 1000.0),
                ("MPJVE", metrics.mpjve(pred, gt)[keep[1:] & keep[:-1]], 1000.0),
                ("PCK", metrics.pck_frames(p, g, 0.15, joints), 1.0),
                ("AUC", metrics.auc_frames(p, g, 0.15, 31, joints), 1.0)):
            sums[key][group] = sums[key].get(group, 0.0) + scale * float(errs.sum())
            counts[key][group] = counts[key].get(group, 0) + len(errs)
    result = {key: {g: sums[key][g] / counts[key][g] for g in sums[key] if counts[key][g]}
              for key in sums}
    result["frames"] = dict(counts["P1"])
    for key in KEYS:
        per_action = [result[key][name] for _, name in ACTIONS if name in result[key]]
        if not per_action:  # not Human3.6M: over its groups
            per_action = list(result[key].values())
        frames = sum(counts[key].values())
        result[key]["Avg"] = float(np.mean(per_action)) if per_action else float("nan")
        result[key]["All"] = sum(sums[key].values()) / frames if frames else float("nan")
    return result


def format_groups(result: dict, columns, rows, labels=None) -> str:
    """A table with one column per group (then "Avg."), one row per metric."""
    labels = dict(labels or {})
    names = list(columns) + ["Avg"]
    heads = [labels.get(n, n) for n in columns] + ["Avg."]
    width = max(6, *(len(h) for h in heads)) + 1
    lines = ["".ljust(8) + "".join(h.rjust(width) for h in heads)]
    for row in rows:
        cells = [f"{result[row][n]:.1f}" if n in result[row] else "-" for n in names]
        lines.append(row.ljust(8) + "".join(c.rjust(width) for c in cells))
    return "\n".join(lines)


def format_3dhp(result: dict) -> str:
    """MPI-INF-3DHP: one row per test sequence and one over all frames (the papers' numbers):
    PCK (150 mm, %), AUC (%), MPJPE (mm)."""
    groups = sorted(g for g in result["P1"] if g not in ("Avg", "All"))
    lines = ["".ljust(8) + "".join(h.rjust(10) for h in ("PCK", "AUC", "MPJPE", "frames"))]
    for g in groups + ["All"]:
        frames = result["frames"].get(g, sum(result["frames"].values()))
        lines.append(g.ljust(8) + "".join(f"{result[k][g]:.1f}".rjust(10) for k in ("PCK", "AUC", "P1"))
                     + str(frames).rjust(10))
    return "\n".join(lines)


def format_humaneva(result: dict) -> str:
    """HumanEva-I: P-MPJPE (P2, the papers' protocol) and MPJPE per action and subject, mm."""
    from .data.humaneva import table_order

    groups = table_order([g for g in result["P1"] if g not in ("Avg", "All")])
    return format_groups(result, groups, ("P2", "P1"))


def format_table(result: dict, rows=("P1", "P2", "MPJVE"), dataset: str = "h36m") -> str:
    """The papers' table: one column per action, then the average over the actions present
    (``dataset`` "3dhp" and "humaneva": those papers' tables)."""
    if dataset == "3dhp":
        return format_3dhp(result)
    if dataset == "humaneva":
        return format_humaneva(result)
    labels = [label for label, _ in ACTIONS] + ["Avg."]
    names = [name for _, name in ACTIONS] + ["Avg"]
    width = max(6, *(len(label) for label in labels)) + 1
    lines = ["".ljust(8) + "".join(label.rjust(width) for label in labels)]
    for row in rows:
        cells = [f"{result[row][n]:.1f}" if n in result[row] else "-" for n in names]
        lines.append(row.ljust(8) + "".join(c.rjust(width) for c in cells))
    missing = [label for label, name in ACTIONS if name not in result["P1"]]
    if missing:
        lines.append(f"(no test frames for {', '.join(missing)}: Avg. is over the other actions)")
    return "\n".join(lines)
