# SPDX-License-Identifier: GPL-3.0-or-later
"""Seconds to write the keys of a 10,000-frame clip on a 20-bone rig with LiftRig's bulk writer
(F-curves created once, ``keyframe_points.add`` + ``foreach_set``), through the add-on's
``apply_motion`` (armature creation, action, scene timing included), beside the per-key
``keyframe_insert`` way on a short clip for scale.

    .venv/bin/python benchmarks/blender_keys.py [--frames 10000] [--bones 20] [--insert-frames 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def chain_clip(frames: int, bones: int, fps: float = 30.0):
    """A KeyedMotion on a chain of ``bones`` bones with smooth random rotations."""
    from scipy.spatial.transform import Rotation

    from liftrig.motion import KeyedMotion
    from liftrig.retarget.rig import Rig

    names = [f"bone{i:02d}" for i in range(bones)]
    rig = Rig.from_bones("chain", [(n, names[i - 1] if i else None, (0, 0, 0.1 * i),
                                    (0, 0, 0.1 * (i + 1))) for i, n in enumerate(names)])
    t = np.linspace(0, frames / fps, frames)[:, None]
    rng = np.random.default_rng(0)
    rotvec = 0.5 * np.sin(t[..., None] * rng.uniform(0.5, 3, (1, bones, 3)))
    world = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(frames, bones, 3, 3)
    return KeyedMotion(
        rig_name="chain", bone_names=rig.bone_names, parents=rig.parents,
        rest_heads=rig.rest_heads, rest_tails=rig.rest_tails, rest_rotations=rig.rest_rotations,
        keyed=rig.bone_names, world_rotations=world,
        heads=np.zeros((frames, bones, 3)), translation_bone=names[0],
        location=np.concatenate([np.sin(t), t, np.zeros_like(t)], axis=1), fps=fps,
        world=np.zeros((frames, 17, 3)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--bones", type=int, default=20)
    parser.add_argument("--insert-frames", type=int, default=300,
                        help="frames for the keyframe_insert comparison (0 to skip)")
    args = parser.parse_args()

    import bpy

    from liftrig.addon.animation import apply_motion

    motion = chain_clip(args.frames, args.bones)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    started = time.perf_counter()
    applied = apply_motion(bpy.context.scene, motion, "bench")
    bulk = time.perf_counter() - started
    keys = applied.curves * args.frames
    print(f"bulk writer: {args.frames} frames x {args.bones} bones = {applied.curves} F-curves, "
          f"{keys:,} keys in {bulk:.2f} s ({keys / bulk / 1e6:.1f} M keys/s)")

    if args.insert_frames:
        obj = applied.armature
        obj.animation_data_clear()
        n = args.insert_frames
        started = time.perf_counter()
        quats = np.tile([1.0, 0.0, 0.0, 0.0], (n, args.bones, 1))
        for f in range(n):
            for b, name in enumerate(motion.keyed):
                pb = obj.pose.bones[name]
                pb.rotation_quaternion = quats[f, b]
                pb.keyframe_insert("rotation_quaternion", frame=f + 1)
        per_frame = (time.perf_counter() - started) / n
        print(f"keyframe_insert: {per_frame * 1e3:.1f} ms per frame -> about "
              f"{per_frame * args.frames:.0f} s for {args.frames} frames")


if __name__ == "__main__":
    main()
