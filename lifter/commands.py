# SPDX-License-Identifier: GPL-3.0-or-later
"""Subcommands of the 3D stage: ``liftrig lift`` and ``liftrig convert-checkpoint``.

Light at import time: torch and the networks load inside the handlers.
"""

from __future__ import annotations

from pathlib import Path

from ..checks import FRAME_RATE, check_output_path, number_in
from ..errors import LiftRigError
from ..options import (add_detection_arguments, add_lifter_arguments, add_retarget_arguments,
                       lift_options, retarget_options)


def add_commands(sub) -> None:
    p = sub.add_parser("lift", help="video or 2D keypoints (.npz) -> 3D joints (.npz)",
                       description="Lift a clip's 2D keypoints to 3D joints with MixSTE or P-STMO. "
                       "The output keeps the keypoints fields and adds joints3d, float32 "
                       "[F, 17, 3]: metres, root-relative, camera axes.")
    p.add_argument("input", help="a video, or a keypoints file from `liftrig keypoints` (.npz)")
    p.add_argument("-o", "--output", required=True,
                   help="the file to write: .npz (joints), or .bvh, .fbx, .blend (LiftRig's "
                   "skeleton animated; .fbx and .blend need the bpy module)")
    add_lifter_arguments(p)
    add_detection_arguments(p.add_argument_group("for a video input (the 2D stage)"))
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_retarget_arguments(p.add_argument_group(
        "with -o .bvh/.fbx/.blend (the retarget stage, as liftrig retarget)"))
    p.add_argument("-q", dest="no_progress", action="store_true", help="same as --no-progress")
    p.set_defaults(handler=_lift)

    c = sub.add_parser("convert-checkpoint", help="published MixSTE/P-STMO weights -> .safetensors",
                       description="Convert a published MixSTE or P-STMO checkpoint (or any "
                       "weights file LiftRig reads) to LiftRig's .safetensors, which records the "
                       "architecture, its sizes and the training frame rate.")
    c.add_argument("input", help="the checkpoint (.bin, .pth, .pt or .safetensors)")
    c.add_argument("output", help="the file to write (.safetensors)")
    c.add_argument("--fps", type=FRAME_RATE, default=None,
                   help="frame rate the weights were trained at (default: the source's own, "
                   "else MixSTE 50, P-STMO 25)")
    c.add_argument("--num-heads", type=number_in(1, 256, integer=True), default=None,
                   help="attention heads, which weights do not reveal (default 8, as published)")
    c.set_defaults(handler=_convert)


def _lift(args) -> int:
    from ..formats import Joints3D, Keypoints2D
    from ..progress import terminal_progress
    from .inference import load_lifter

    src, out = Path(args.input), Path(args.output)
    if out.suffix.lower() not in (".npz", ".bvh", ".fbx", ".blend"):
        raise LiftRigError(f"cannot write {out.name!r}: use -o OUT.npz (joints), OUT.bvh, "
                           "OUT.fbx or OUT.blend (LiftRig's skeleton animated)")
    check_output_path(out)
    if out.suffix.lower() in (".bvh", ".fbx", ".blend"):
        return _lift_to_animation(args, src, out)
    if not src.is_file():
        raise LiftRigError(f"input not found: {src}")
    lifter = load_lifter(args.weights, device=args.device, precision=args.precision)
    with terminal_progress(not args.no_progress) as progress:
        if src.suffix.lower() == ".npz":
            kp = Keypoints2D.load(src)
        else:
            from ..detect.keypoints import extract_keypoints

            kp = extract_keypoints(src, pose_model=args.pose_model, person=args.person,
                                   max_people=args.max_people, start=args.start, end=args.end,
                                   progress=progress, jobs=args.jobs)
        clip = Joints3D(kp, lifter.lift(kp, flip=args.flip, progress=progress))
    clip.save(out)
    print(f"{out}: 3D joints of {kp.num_frames} frames at {kp.fps:g} fps "
          f"({int(kp.valid.sum())} with the subject detected)")
    return 0


def _lift_to_animation(args, src: Path, out: Path) -> int:
    """-o OUT.bvh|OUT.fbx|OUT.blend: lift, retarget onto LiftRig's skeleton, write the file
    (BVH with LiftRig's own writer; FBX and .blend through Blender's ``bpy`` module)."""
    import dataclasses

    from ..pipeline.solve import lift_to_bvh
    from ..progress import terminal_progress

    options, retarget = lift_options(args), retarget_options(args)
    if out.suffix.lower() != ".bvh":
        import importlib.util

        if importlib.util.find_spec("bpy") is None:
            raise LiftRigError(f"writing {out.suffix.lower()} needs Blender: install the bpy "
                               "module (pip install 'liftrig[blender]'), run `blender -b "
                               f"--command liftrig {src} -o {out}`, or write .bvh instead")
        from ..addon.batch import convert_one  # the Blender shell writes FBX and .blend
    with terminal_progress(not args.no_progress) as progress:
        if out.suffix.lower() == ".bvh":
            summary = lift_to_bvh(src, out, options, progress, retarget)
        else:
            row = convert_one(src, out, options, dataclasses.asdict(retarget), progress=progress)
            summary = f"{row.frames} frames at {row.fps:g} fps -> {row.output}"
    print(summary)
    return 0


def _convert(args) -> int:
    from .checkpoints import convert_checkpoint

    check_output_path(args.output, (".safetensors",), "converted file")
    info = convert_checkpoint(args.input, args.output, fps=args.fps, num_heads=args.num_heads)
    print(f"{args.output}: {info['architecture']} {info['config']} at {info['fps']:g} fps")
    return 0
