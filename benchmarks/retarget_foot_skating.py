# SPDX-License-Identifier: GPL-3.0-or-later
"""Foot skating before and after LiftRig's cleanup, and the root path's error, on real walks.

Bandai Namco walks (from ../shared/data, extracted to the user cache) are filmed by a virtual
camera 7 m away; the 2D keypoints and root-relative 3D joints get lifter-like errors (white plus
slow noise, several levels and seeds); the whole retargeting stage runs on them. Skating is the
mean horizontal ankle speed over the capture's own contact frames.

    .venv/bin/python benchmarks/retarget_foot_skating.py [--clips N] [--seeds S]
"""

from __future__ import annotations

import argparse
import os
import tarfile
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from liftrig.formats import Joints3D, Keypoints2D
from liftrig.retarget.bvh import parse_bvh
from liftrig.retarget.contacts import (ContactSettings, detect_contacts, foot_skating,
                                       knee_angles)
from liftrig.retarget.mocap_map import mocap_to_h36m
from liftrig.retarget.end_to_end import RetargetOptions, retarget_clip
from liftrig.retarget.root_path import PinholeCamera, look_at_rotation, solve_root

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = Path(os.environ.get("LIFTRIG_SHARED", ROOT.parent / "shared")) / "data" / \
    "bandai-namco-motion-bvh.tar.xz"
# (pixel white, pixel slow, joint white m, joint slow m): none, the tests' level, harsher ones.
NOISE = ((0, 0, 0, 0), (2, 3, 0.005, 0.03), (3, 4, 0.01, 0.04), (3, 3, 0.02, 0.02))


def walks(count: int):
    """The first ``count`` plain walks of the archive, as BVH text."""
    found = []
    with tarfile.open(ARCHIVE, "r:xz") as tf:
        for info in tf:
            name = Path(info.name).name
            if name.endswith(".bvh") and "_walk_" in name:
                found.append((name, tf.extractfile(info).read().decode()))
                if len(found) == count:
                    break
    return found


def jitter(rng, x, white, slow, frames):
    if not (white or slow):
        return x
    smooth = gaussian_filter1d(rng.normal(size=x.shape), frames, axis=0)
    return x + rng.normal(size=x.shape) * white + smooth / smooth.std() * slow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    rows = {n: [] for n in NOISE}
    for name, text in walks(args.clips):
        motion = parse_bvh(text)
        world, fps = mocap_to_h36m(motion), motion.fps
        truth = detect_contacts(world, fps, ContactSettings(height_share=0.0, speed_share=0.0))
        mid = world[:, 0].mean(axis=0)
        position = mid + [7.0, 0.0, 0.5]
        rotation = look_at_rotation(position, mid, 3.0)
        cam = (world - position) @ rotation.T
        camera = PinholeCamera.from_fov((1920, 1080), 60.0)
        pixels = camera.project(cam)
        for noise in NOISE:
            for seed in range(args.seeds):
                rng = np.random.default_rng(seed)
                kp = Keypoints2D(jitter(rng, pixels, *noise[:2], 3), np.ones((len(world), 17)),
                                 np.ones(len(world), bool), fps, (1920, 1080),
                                 np.arange(len(world)))
                rel = jitter(rng, cam - cam[:, :1], *noise[2:], 10)
                rel -= rel[:, :1]
                root = solve_root(kp.keypoints, kp.scores, rel, camera)
                clip = Joints3D(kp, rel)
                raw = retarget_clip(clip, RetargetOptions(smoothing=0.0, foot_lock=False))
                smoothed = retarget_clip(clip, RetargetOptions(foot_lock=False))
                locked = retarget_clip(clip, RetargetOptions())
                knee = [np.abs(np.diff(knee_angles(r.world), axis=0)).max()
                        for r in (smoothed, locked)]
                rows[noise].append((
                    np.sqrt(np.mean(np.sum((root - cam[:, 0]) ** 2, -1))) * 1000,
                    foot_skating(raw.world, truth, fps), foot_skating(smoothed.world, truth, fps),
                    foot_skating(locked.world, truth, fps), np.mean(locked.contacts == truth),
                    *knee))
        print(f"{name}: {len(world)} frames", flush=True)
    print("\nnoise (px white, px slow, m white, m slow) | root RMS error mm | skating m/s raw -> "
          "smoothed -> locked | reduction | contacts agree | max knee deg/frame smoothed, locked")
    for noise, r in rows.items():
        a = np.mean(r, axis=0)
        print(f"{noise} | {a[0]:.0f} | {a[1]:.3f} -> {a[2]:.3f} -> {a[3]:.3f} | "
              f"{1 - a[3] / a[1]:.1%} | {a[4]:.0%} | {a[5]:.1f}, {a[6]:.1f}")


if __name__ == "__main__":
    main()
