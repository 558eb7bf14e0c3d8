# SPDX-License-Identifier: GPL-3.0-or-later
"""Subcommand of the retargeting stage: ``liftrig retarget JOINTS.npz --rig ... -o OUT.bvh``."""

from __future__ import annotations

import sys
from pathlib import Path

from ..checks import check_output_path, number_in
from ..errors import LiftRigError

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
    p.add_argument("--smoothing", type=number_in(0, 1), default=0.5, metavar="S",
                   help="smoothing strength, 0 (off) to 1 (strong); default 0.5")
    p.add_argument("--foot-lock", choices=("on", "off"), default="on",
                   help="plant the feet while they touch the floor (default on)")
    p.add_argument("--root-motion", choices=("on", "off"), default="on",
                   help="off: keep the pelvis above the origin (in place); default on")
    p.add_argument("--extremities", choices=("on", "off"), default="on",
                   help="turn the feet, hands and head from MediaPipe's heel, toe, knuckle, ear "
                        "and nose landmarks (default on; needs a file from MediaPipe)")
    p.add_argument("--fov", type=number_in(1, 179), default=None, metavar="DEG",
                   help="the camera's field of view across the longer image side in degrees "
                        "(default 60, typical of phones); ignored with --focal-px")
    p.add_argument("--focal-px", type=number_in(0, 1e6, low_open=True), default=None, metavar="F",
                   help="the camera's focal length in pixels, if known")
    p.add_argument("--facing", default="-y", choices=("-y", "+y", "-x", "+x", "camera"),
                   help="world axis the subject faces at the start (default -y, Blender's front "
                        "view); camera: keep the camera looking along +Y")
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
    from .pipeline import RetargetOptions, load_rig, retarget_clip

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
    options = RetargetOptions(
        smoothing=args.smoothing, foot_lock=args.foot_lock == "on",
        root_motion=args.root_motion == "on", facing=args.facing,
        focal_px=args.focal_px, extremities=args.extremities == "on",
        **({"fov_deg": args.fov} if args.fov is not None else {}))
    rig = args.rig if args.rig == "builtin" else load_rig(args.rig)
    result = retarget_clip(clip, options, rig)
    if args.world_out:  # first: if it fails, no BVH is left behind either
        clip.save(args.world_out, world=result.world)
    write_pose_bvh(out, result.pose, clip.keypoints.fps, args.channel_order.upper(), args.units)
    print(result.summary())
    if result.pose.bound.unmapped:
        print(result.pose.bound.report(), file=sys.stderr)
    return 0
