# SPDX-License-Identifier: GPL-3.0-or-later
"""Subcommand of the retargeting stage: ``liftrig retarget JOINTS.npz --rig ... -o OUT.bvh``."""

from __future__ import annotations

import sys
from pathlib import Path

from ..checks import check_output_path
from ..errors import LiftRigError
from ..options import add_retarget_arguments, retarget_options

RIG_CHOICES = "builtin|rigify|rigify-metarig|mixamo|ue5|MAP.json"


def add_commands(sub) -> None:
    p = sub.add_parser(
        "retarget", help="3D joints (.npz) -> animated rig (.bvh) with root motion and planted feet",
        description="Place the lifted joints in the world (root path from the 2D keypoints, floor "
                    "from the feet), smooth them, plant the feet, and solve a rig's bone "
                    "rotations. Writes a BVH; the joints file is only read (--world-out writes "
                    "a copy with `world`, float32 [F, 17, 3], metres, Z up).")
    p.add_argument("joints", help="a joints file from `liftrig lift` (.npz with joints3d)")
    p.add_argument("-o", "--output", required=True, help="the BVH file to write (.bvh)")
    p.add_argument("--rig", default="builtin", metavar=RIG_CHOICES,
                   help="target rig: LiftRig's own skeleton fitted to the subject (default), a "
                        "preset, or a JSON bone map with a skeleton (see the README)")
    add_retarget_arguments(p)
    p.add_argument("--channel-order", default="ZXY", metavar="XYZ",
                   help="BVH rotation channel order (default ZXY)")
    p.add_argument("--units", choices=("cm", "m"), default="cm",
                   help="BVH length unit (default cm; import into Blender with scale 0.01)")
    p.add_argument("--world-out", metavar="OUT.npz", default=None,
                   help="also write the joints file with `world` added, under this name")
    p.set_defaults(handler=run_retarget)


def run_retarget(args) -> int:
    from ..formats import Joints3D
    from .export import write_pose_bvh
    from .end_to_end import load_rig, retarget_clip

    src, out = Path(args.joints), Path(args.output)
    if out.suffix.lower() != ".bvh":
        raise LiftRigError(f"cannot write {out.name!r}: `liftrig retarget` writes BVH files. "
                           "Use -o OUT.bvh.")
    check_output_path(out)
    if args.world_out:
        check_output_path(args.world_out, (".npz",), "--world-out file")
        if Path(args.world_out).resolve() == src.resolve():
            raise LiftRigError("--world-out must name a new file: `liftrig retarget` never "
                               "changes its input")
    clip = Joints3D.load(src)
    options = retarget_options(args)
    rig = args.rig if args.rig == "builtin" else load_rig(args.rig)
    result = retarget_clip(clip, options, rig)
    if args.world_out:  # first: if it fails, no BVH is left behind either
        clip.save(args.world_out, world=result.world)
    write_pose_bvh(out, result.pose, clip.keypoints.fps, args.channel_order.upper(), args.units)
    print(result.summary())
    if result.pose.bound.unmapped:
        print(result.pose.bound.report(), file=sys.stderr)
    return 0
