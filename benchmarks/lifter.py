# SPDX-License-Identifier: GPL-3.0-or-later
"""How fast does the lifter turn a clip's 2D keypoints into 3D, and how far is that from the machine?

For each network (MixSTE-243 d=512 as published, smaller MixSTE variants, P-STMO-S and P-STMO at
T=243) it lifts one synthetic clip at the model's own frame rate and reports, per mode:
  baseline   the straightforward way: explicit softmax attention, fp32, one window per call,
             the network as written (no packed layers);
  fp32       LiftRig's CPU path: oneDNN-packed linears (GELU fused), fused attention, fp32;
  bf16       the same in bf16 (packed bf16 linears, autocast; MixSTE's attention as batched
             matmuls, which use the CPU's bf16 units);
each with and without the flip augmentation: clip frames per second, the speed-up over the
baseline, the deviation from the baseline's output (max and RMS, relative to the output's RMS),
the arithmetic rate in GFLOP/s and its share of the machine's measured GEMM peak.

Weights are random (no trained model ships yet); speed does not depend on them. Timings are the
best of ``--repeat`` runs, interleaved across modes, so that load from other processes on the
machine (printed before and after) costs as little as possible.

    .venv/bin/python benchmarks/lifter.py [--repeat 2] [--frames 1000] [--quick] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from liftrig.lifter.inference import Lifter, cpu_has_fast_bf16, resolve_device
from liftrig.lifter.models import MixSTE, PSTMO, PUBLISHED_FPS, attention_impl
from liftrig.lifter.packing import pack_linears, packing_available

SIZE = (1000, 1000)

NETWORKS = {  # name: (architecture, constructor arguments, clip frames, in --quick)
    "MixSTE-243 d512": ("mixste", {}, 1000, True),
    "MixSTE-243 d256": ("mixste", {"dim": 256}, 1000, False),
    "MixSTE-81 d256": ("mixste", {"num_frames": 81, "dim": 256}, 1000, True),
    "MixSTE-27 d128 depth4": ("mixste", {"num_frames": 27, "dim": 128, "depth": 4}, 1000, False),
    "P-STMO-S-243": ("pstmo", {}, 150, True),
    "P-STMO-243": ("pstmo", {"layers": 4}, 150, False),
}


def clip(frames: int, fps: float) -> np.ndarray:
    """A smooth synthetic 2D clip [F, 17, 2] in pixels."""
    rng = np.random.default_rng(0)
    base = rng.uniform(300, 700, (1, 17, 2))
    t = np.arange(frames)[:, None, None] / fps
    return (base + 40 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6.3, (1, 17, 2)))).astype(
        np.float32)


def flops(model, architecture: str) -> dict:
    """Multiply-adds x2 of one window (and, for P-STMO, of one frame's encoder)."""
    from torch.utils.flop_counter import FlopCounterMode

    T = model.num_frames
    x = torch.zeros(1, T, model.num_joints, 2, device=next(model.parameters()).device)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            model(x)
        window = counter.get_total_flops()
        encoder = 0
        if architecture == "pstmo":
            with FlopCounterMode(display=False) as counter:
                model.encode_frames(x[0, :1])
            encoder = counter.get_total_flops()
    return {"window": window, "encoder_frame": encoder}


def work(architecture: str, lifter: Lifter, frames: int, flip: bool, fl: dict) -> float:
    """FLOPs that lift() spends on a clip of ``frames`` frames at the model's rate."""
    from liftrig.lifter.inference import window_starts

    T, passes = lifter.num_frames, 2 if flip else 1
    if architecture == "mixste":
        return passes * len(window_starts(max(frames, T), T, T // 8)) * fl["window"]
    # P-STMO: one window per frame, its frame encoder run once per (padded) frame, not T times
    per_window = fl["window"] - T * fl["encoder_frame"]
    return passes * (frames * per_window + (frames + T - 1) * fl["encoder_frame"])


def gemm_peak(dtype: torch.dtype, device, clock) -> float:
    """GFLOP/s of a large matrix product: the practical peak the networks' GEMMs could reach."""
    n = 2048
    a = torch.randn(n, n, device=device).to(dtype)
    w = torch.randn(n, n, device=device).to(dtype)
    if device.type == "cpu" and packing_available(dtype):
        lin = torch.nn.Linear(n, n, bias=False)
        lin.weight.data.copy_(w.float())
        layer = pack_linears(torch.nn.Sequential(lin), dtype)[0]
        fn = lambda: layer(a)  # noqa: E731
    else:
        fn = lambda: a @ w  # noqa: E731
    best = float("inf")
    with torch.inference_mode():
        for _ in range(5):
            _sync(device)
            start = clock()
            fn()
            _sync(device)
            best = min(best, clock() - start)
    return 2 * n ** 3 / best / 1e9


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def run_network(name: str, architecture: str, config: dict, frames: int, device, repeat: int,
                peaks: dict, clock) -> list[dict]:
    torch.manual_seed(0)
    model = (MixSTE if architecture == "mixste" else PSTMO)(**config).eval()
    with torch.no_grad():  # random, non-zero embeddings and norms, as trained weights have
        for t in model.parameters():
            t.add_(0.02 * torch.randn_like(t))
    info = {"architecture": architecture, "fps": PUBLISHED_FPS[architecture]}
    baseline_model = attention_impl(copy.deepcopy(model), "explicit").to(device)
    model = model.to(device)
    fl = flops(model, architecture)
    kp = clip(frames, info["fps"])
    modes = {
        "baseline": (Lifter(baseline_model, info, device, "fp32", fast=False),
                     {"precision": "fp32", "batch_windows": 1}),
        "fp32": (Lifter(model, info, device, "fp32"), {"precision": "fp32"}),
        "bf16": (Lifter(model, info, device, "bf16"), {"precision": "bf16"}),
    }
    runs = [(mode, flip) for flip in (False, True) for mode in modes]
    best = {run: float("inf") for run in runs}
    outputs = {}
    for rep in range(repeat + 1):  # the first round warms up (packing, oneDNN kernels)
        for mode, flip in runs:
            lifter, kwargs = modes[mode]
            _sync(device)
            start = clock()
            out = lifter.lift(kp, fps=info["fps"], size=SIZE, flip=flip, **kwargs)
            _sync(device)
            if rep:
                best[mode, flip] = min(best[mode, flip], clock() - start)
            outputs[mode, flip] = out
    T = model.num_frames
    per_frame = fl["window"] / T if architecture == "mixste" else \
        fl["window"] - (T - 1) * fl["encoder_frame"]  # P-STMO: one window per output frame
    rows = []
    for mode, flip in runs:
        ref = outputs["baseline", flip]
        rms = float(np.sqrt(np.mean(ref ** 2)))
        diff = outputs[mode, flip] - ref
        seconds = best[mode, flip]
        gflops = work(architecture, modes[mode][0], frames, flip, fl) / seconds / 1e9
        peak = peaks["bf16" if mode == "bf16" else "fp32"]
        rows.append({"network": name, "mode": mode, "flip": flip, "frames": frames,
                     "fps": frames / seconds,
                     "speedup": best["baseline", flip] / seconds,
                     "max_dev": float(np.abs(diff).max()),
                     "rms_dev_rel": float(np.sqrt(np.mean(diff ** 2)) / rms),
                     "gflops": gflops, "peak_share": gflops / peak,
                     "gflop_per_frame": per_frame / 1e9})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per mode (best kept)")
    parser.add_argument("--frames", type=int, default=None, help="clip length (default per net)")
    parser.add_argument("--quick", action="store_true", help="fewer networks")
    parser.add_argument("--only", default="", help="networks whose name contains this")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread, timed in CPU seconds of this process: per-core figures "
                        "that other processes' load barely disturbs")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if args.cpu_time:
        args.threads = 1
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    clock = time.process_time if args.cpu_time else time.perf_counter

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, device {device}, "
          f"timed in {'CPU' if args.cpu_time else 'wall-clock'} seconds")
    if device.type == "cpu":
        print(f"CPU bf16 units (AMX/AVX512-BF16): {cpu_has_fast_bf16()}; "
              f"oneDNN packing: fp32 {packing_available(torch.float32)}, "
              f"bf16 {packing_available(torch.bfloat16)}. No GPU was measured in this run.")
    peaks = {p: gemm_peak(dt, device, clock)
             for p, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(f"measured GEMM peak (2048^3): fp32 {peaks['fp32']:.0f} GFLOP/s, "
          f"bf16 {peaks['bf16']:.0f} GFLOP/s; load average before: {_load()}")
    print()
    header = (f"{'network':24s} {'mode':8s} {'flip':5s} {'frames/s':>9s} {'speedup':>8s} "
              f"{'max dev':>9s} {'rms dev':>8s} {'GFLOP/s':>8s} {'of peak':>8s}")
    print(header)
    print("-" * len(header))
    rows = []
    for name, (architecture, config, frames, quick) in NETWORKS.items():
        if (args.quick and not quick) or args.only not in name:
            continue
        for row in run_network(name, architecture, config, args.frames or frames, device,
                               args.repeat, peaks, clock):
            rows.append(row)
            print(f"{row['network']:24s} {row['mode']:8s} {'yes' if row['flip'] else 'no':5s} "
                  f"{row['fps']:9.1f} {row['speedup']:7.2f}x {row['max_dev']:9.2e} "
                  f"{100 * row['rms_dev_rel']:7.2f}% {row['gflops']:8.1f} "
                  f"{100 * row['peak_share']:7.0f}%", flush=True)
        print(f"{'':24s} ({rows[-1]['gflop_per_frame']:.2f} GFLOP per network frame)")
    print(f"\nload average after: {_load()}. frames/s: clip frames lifted per second at the "
          "model's frame rate (MixSTE windows overlap by T//8). rms dev: RMS of the difference "
          "to the baseline over the RMS of its output. of peak: the GFLOP/s the lift sustains "
          "over the measured GEMM peak of its precision.")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
