# SPDX-License-Identifier: GPL-3.0-or-later
"""Which 2D input normalisation copes best with lenses the lifter cannot know?

The lifter never learns the camera's focal length: a phone's 24 mm lens and an 85 mm lens
film the same pose as different pictures (the wide lens closer, with stronger perspective). This
experiment trains one small MixSTE per normalisation on the same synthetic windows (held-out
Bandai groups excluded; drawn adult bodies, everyday cameras 13-85 mm, MediaPipe-like 2D) for
the same number of steps, then measures each on held-out Bandai motion filmed through fixed
lenses (14, 24, 35, 50, 85 mm equivalent):

- ``screen``: what LiftRig ships, x/w*2-1, y/w*2-h/w (the papers' normalisation: keeps where the
  person is in the picture and how large);
- ``person``: the same points centred on the window's mean pelvis and divided by the window's
  mean body height in the picture (blind to where and how large the person is filmed);
- ``both``: the two side by side (4 input channels).

Small networks trained briefly rank normalisations, they do not give the shipped model's
figures. On the shared 2-core CPU, one thread: about 2.5 minutes per network at the default 600
steps, 13 minutes at the model card's 3,000:

    .venv/bin/python benchmarks/input_normalisation.py [--steps 600] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIFTRIG_SHARED", ROOT.parent / "shared"))
LENSES_MM = (14.0, 24.0, 35.0, 50.0, 85.0)
FRAMES = 27


def person_centred(x: np.ndarray) -> np.ndarray:
    """Screen points [..., T, 17, 2] -> centred on the window's mean pelvis, in units of the
    window's mean body height (the vertical extent of the 17 points)."""
    centre = x[..., :, :1, :].mean(axis=-3, keepdims=True)                  # [..., 1, 1, 2]
    height = np.ptp(x[..., 1], axis=-1).mean(axis=-1)[..., None, None, None]  # [..., 1, 1, 1]
    return (x - centre) / np.maximum(height, 1e-3)


NORMALISATIONS = {
    "screen": lambda x: x,
    "person": person_centred,
    "both": lambda x: np.concatenate([x, person_centred(x)], axis=-1),
}


def training_windows(train_clips, steps: int, batch: int, seed: int):
    """The same synthetic windows for every normalisation, as the default model's stage 3+ draw
    them: drawn bodies, everyday cameras, MediaPipe-like 2D, detector-seen targets."""
    from liftrig.training.data import bodies, mocap

    return mocap.MocapWindows(train_clips, FRAMES, steps * batch, seed=seed,
                              ranges=mocap.EVERYDAY_CAMERAS, noise=mocap.REAL_BODY_DETECTOR,
                              bodies=bodies.BodyRanges(), seen_targets=True)


def test_windows(held_out, lens_mm: float, per_clip: int, seed: int):
    """Windows of the held-out clips filmed through one lens: (2D [N, T, 17, 2], 3D [N, T, 17, 3])."""
    from liftrig.training.data import bodies, mocap

    ranges = dataclasses.replace(mocap.EVERYDAY_CAMERAS, phone_share=0.0, wide_share=0.0,
                                 focal_mm=(lens_mm, lens_mm), out_of_frame=0.0)
    xs, ys = [], []
    for k, clip in enumerate(held_out):
        for j in range(per_clip):
            rng = np.random.default_rng([seed, k, j])
            start = int(rng.integers(0, max(len(clip) - FRAMES, 1)))
            part = slice(start, start + FRAMES)
            if len(clip.h36m[part]) < FRAMES:
                continue
            x, y = mocap.synthesize(rng, clip.h36m[part], clip.coco[part], mocap.TRAIN_FPS,
                                    ranges, mocap.REAL_BODY_DETECTOR, bodies=bodies.BodyRanges(),
                                    seen_targets=True)
            xs.append(x)
            ys.append(y)
    return np.stack(xs), np.stack(ys)


def train_one(name: str, windows, steps: int, batch: int, seed: int):
    """A small MixSTE trained on ``windows`` with normalisation ``name`` (MPJPE loss, AdamW)."""
    import torch

    from liftrig.lifter.models import build_model
    from liftrig.training.losses import mpjpe

    normalise = NORMALISATIONS[name]
    torch.manual_seed(seed)
    in_chans = normalise(np.zeros((1, FRAMES, 17, 2))).shape[-1]
    model = build_model("mixste", {"num_frames": FRAMES, "num_joints": 17, "in_chans": in_chans,
                                   "dim": 64, "depth": 2, "num_heads": 4, "mlp_ratio": 2.0,
                                   "drop_path": 0.0})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=steps)
    model.train()
    for step in range(steps):
        pairs = [windows.window(step * batch + i)[:2] for i in range(batch)]
        x = torch.from_numpy(normalise(np.stack([p[0] for p in pairs])).astype(np.float32))
        y = torch.from_numpy(np.stack([p[1] for p in pairs]))                  # [B, T, 17, 3]
        loss = mpjpe(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


def evaluate(name: str, model, x: np.ndarray, y: np.ndarray) -> dict:
    """MPJPE, P-MPJPE (mm) and limb directions (deg) of ``model`` on windows (x, y)."""
    import torch

    from liftrig.training import metrics

    with torch.no_grad():
        pred = model(torch.from_numpy(NORMALISATIONS[name](x).astype(np.float32))).numpy()
    pred = pred - pred[..., :1, :]
    flat_pred, flat_y = pred.reshape(-1, 17, 3), y.reshape(-1, 17, 3)
    return {"MPJPE": 1000 * float(metrics.mpjpe(flat_pred, flat_y).mean()),
            "P-MPJPE": 1000 * float(metrics.p_mpjpe(flat_pred, flat_y).mean()),
            "limbs": float(np.mean([metrics.limb_direction_error(p, t).mean()
                                    for p, t in zip(pred, y)]))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps per network")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--clips", type=int, default=60, help="held-out Bandai clips tested")
    parser.add_argument("--only", action="append", choices=sorted(NORMALISATIONS), default=None)
    args = parser.parse_args()

    import torch

    from liftrig.paths import cache_dir
    from liftrig.training.data import mocap

    torch.set_num_threads(args.threads)
    clips = mocap.load_clips(mocap.prepare(SHARED / "data", cache_dir()))
    train_clips, held_out = mocap.split_clips(clips)
    train_clips = [c for c in train_clips if c.source == "bandai"]
    held_out = [c for c in held_out if c.source == "bandai"][:args.clips]
    windows = training_windows(train_clips, args.steps, args.batch, seed=1)
    tests = {lens: test_windows(held_out, lens, per_clip=3, seed=7) for lens in LENSES_MM}
    print(f"{args.steps} steps x {args.batch} windows of {FRAMES} frames per network; "
          f"{len(held_out)} held-out Bandai clips, {len(tests[LENSES_MM[0]][0])} windows per lens")
    print("MPJPE / P-MPJPE mm, limb directions deg, by lens (35 mm equivalent):")
    print(f"  {'':8s}" + "".join(f"{lens:>20.0f}" for lens in LENSES_MM) + f"{'mean':>20s}")
    for name in args.only or NORMALISATIONS:
        start = time.perf_counter()
        model = train_one(name, windows, args.steps, args.batch, seed=1)
        rows = [evaluate(name, model, *tests[lens]) for lens in LENSES_MM]
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        cells = [f"{r['MPJPE']:6.1f}/{r['P-MPJPE']:5.1f} {r['limbs']:4.1f}" for r in rows + [mean]]
        print(f"  {name:8s}" + "".join(f"{c:>20s}" for c in cells)
              + f"   ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
