# SPDX-License-Identifier: GPL-3.0-or-later
"""Time per training epoch of the shipped recipes, measured on this machine.

For each recipe: build the real model, time a few optimiser steps (forward, loss, backward, step)
on random inputs of the real batch size after one warm-up step, and extrapolate to one epoch of
Human3.6M's training split. Epoch size: the 1,559,752 training frames of S1 S5 S6 S7 S8 (all four
cameras, 50 fps; the count VideoPose3D reports) minus the 5 % validation tail, about 600
sequences, every window twice (as is and mirrored):
  MixSTE  steps = 2 * (frames / T + sequences / 2) / batch   (chunks; ~half a chunk of padding each)
  P-STMO  steps = 2 * frames / batch                         (one window per frame)
Data loading is left out (it runs in worker processes alongside).

    .venv/bin/python benchmarks/training_epoch.py [--steps 3] [--recipes mixste_cpn_243 ...]
"""

from __future__ import annotations

import argparse
import time

TRAIN_FRAMES = 1_559_752
SEQUENCES = 600
VAL_FRACTION = 0.05


def steps_per_epoch(cfg: dict) -> float:
    frames = TRAIN_FRAMES * (1 - cfg["data"]["val_fraction"])
    t = cfg["train"]
    copies = 2 if t["flip"] else 1
    if t["sampling"] == "chunks":
        windows = frames / cfg["model"]["num_frames"] + SEQUENCES / 2
    else:
        windows = frames
    return copies * windows / t["batch_size"]


def time_recipe(name: str, steps: int) -> tuple[float, float]:
    import torch

    from liftrig.training.config import load_config
    from liftrig.training.loop import build, make_optimizer, step_loss

    cfg = load_config(name)
    torch.manual_seed(0)
    model = build(cfg).train()
    optimizer, _ = make_optimizer(cfg, model)
    T, B = cfg["model"]["num_frames"], cfg["train"]["batch_size"]
    x = torch.rand(B, T, 17, 2) * 2 - 1
    y = torch.rand(B, T, 17, 3) - 0.5
    times = []
    for i in range(steps + 1):
        began = time.perf_counter()
        loss = step_loss(cfg, model, x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i:  # the first step warms up
            times.append(time.perf_counter() - began)
    per_step = sum(times) / len(times)
    return per_step, per_step * steps_per_epoch(cfg)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--recipes", nargs="+", default=[
        "mixste_cpn_243", "mixste_cpn_81", "pstmo_stage1", "pstmo_stage2", "pstmo_s_stage1",
        "pstmo_s_stage2"])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, fp32")
    print(f"{'recipe':<16}{'s/step':>9}{'steps/epoch':>13}{'h/epoch':>9}")
    from liftrig.training.config import load_config

    for name in args.recipes:
        per_step, per_epoch = time_recipe(name, args.steps)
        print(f"{name:<16}{per_step:>9.2f}{steps_per_epoch(load_config(name)):>13.0f}"
              f"{per_epoch / 3600:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
