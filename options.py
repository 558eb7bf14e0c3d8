# SPDX-License-Identifier: GPL-3.0-or-later
"""The choices every shell offers (``liftrig keypoints / lift / retarget``, ``blender --command
liftrig``, the panel), declared once: the option dataclasses the stages take, and the argparse
options that fill them. The panel's properties are checked against the same defaults
(``tests/test_options.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import FRAME_NUMBER, number_in

# Where the lifter runs: auto = CUDA, then Apple's MPS, then the CPU.
DEVICES = ("auto", "cuda", "mps", "cpu")
# Its arithmetic: auto = bf16 on GPUs and CPUs with bf16 units, else fp32.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# The world axis the subject faces at the start, or "camera" (keep the camera looking along +Y).
FACINGS = ("-y", "+y", "-x", "+x", "camera")
# The camera's field of view across the longer image side when nothing says otherwise: phones'
# main cameras and webcams.
DEFAULT_FOV_DEG = 60.0


@dataclass(frozen=True)
class LiftOptions:
    """The choices that shape the 3D joints: the 2D stage's (for a video) and the lifter's."""

    weights: str | None = None      # lifter weights; None: the installed default model
    device: str = "auto"
    precision: str = "auto"
    flip: bool = True
    pose_model: str = "full"
    person: int | None = None
    max_people: int = 2             # for a video: people MediaPipe looks for per frame
    start: int = 0                  # for a video: only frames start <= f < end
    end: int | None = None
    jobs: int | None = None         # for a video: 2D processes; None: the cores this one may use


@dataclass(frozen=True)
class RetargetOptions:
    """The choices that shape the motion: how the joints become a rig's animation."""

    smoothing: float = 0.5          # 0 = off, 1 = strong (Savitzky-Golay over 0.4 s)
    foot_lock: bool = True          # plant the feet during contacts
    root_motion: bool = True        # False: the pelvis stays above the origin (in place)
    fov_deg: float = DEFAULT_FOV_DEG  # the camera's field of view across the longer side
    focal_px: float | None = None   # the camera's focal length in pixels, if known (overrides fov_deg)
    facing: str = "-y"              # world axis the subject faces at the start, or "camera"
    ankle_height: float | None = None  # metres; None: a share of the subject's shin
    extremities: bool = True        # feet, hands and head from MediaPipe's landmarks, if any


def add_detection_arguments(p) -> None:
    """The 2D stage's options (``liftrig keypoints``, and every command that starts from a
    video)."""
    p.add_argument("--pose-model", default="full", metavar="lite|full|heavy|PATH",
                   help="MediaPipe pose model: a name (downloaded once) or a .task file "
                        "(default: full; env LIFTRIG_POSE_MODEL overrides the names)")
    p.add_argument("--person", type=number_in(0, 1000, integer=True), default=None, metavar="K",
                   help="follow the K-th person from the left at the start (0 = leftmost); "
                        "default: the most prominent")
    p.add_argument("--max-people", type=number_in(1, 50, integer=True), default=2,
                   help="how many people MediaPipe looks for per frame (default 2)")
    p.add_argument("--jobs", type=number_in(1, 1024, integer=True), default=None, metavar="N",
                   help="processes that detect chunks of the clip at once (default: the cores "
                        "this process may use; clips under 10 s at 30 fps use one)")
    p.add_argument("--start", type=FRAME_NUMBER, default=0, help="first frame (default 0)")
    p.add_argument("--end", type=FRAME_NUMBER, default=None,
                   help="frame after the last (default: the end)")


def add_lifter_arguments(p) -> None:
    """The lifter's options (``liftrig lift``, ``blender --command liftrig``)."""
    p.add_argument("--weights", metavar="PATH",
                   help="model weights: LiftRig .safetensors or a published MixSTE/P-STMO "
                        "checkpoint (default: the installed default model, whose weights are "
                        "CC BY-NC 4.0: non-commercial use only)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="default: auto")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto = bf16 on GPUs and CPUs with bf16 units, else fp32")
    p.add_argument("--no-flip", dest="flip", action="store_false",
                   help="skip the mirrored pass (twice as fast, slightly less accurate)")


def lift_options(args) -> LiftOptions:
    """:class:`LiftOptions` from a command line with :func:`add_detection_arguments` and
    :func:`add_lifter_arguments`."""
    return LiftOptions(weights=args.weights, device=args.device, precision=args.precision,
                       flip=args.flip, pose_model=args.pose_model, person=args.person,
                       max_people=args.max_people, start=args.start, end=args.end,
                       jobs=args.jobs)


def add_retarget_arguments(p) -> None:
    """The retarget stage's options (``liftrig retarget``, ``liftrig lift -o .bvh|.fbx|.blend``,
    ``blender --command liftrig``): :class:`RetargetOptions`' fields."""
    d = RetargetOptions()
    on_off = {True: "on", False: "off"}
    p.add_argument("--smoothing", type=number_in(0, 1), default=d.smoothing, metavar="S",
                   help=f"smoothing strength, 0 (off) to 1 (strong); default {d.smoothing:g}")
    p.add_argument("--foot-lock", choices=("on", "off"), default=on_off[d.foot_lock],
                   help="plant the feet while they touch the floor, rolling over heel and ball "
                        f"where the feet are turned (default {on_off[d.foot_lock]})")
    p.add_argument("--root-motion", choices=("on", "off"), default=on_off[d.root_motion],
                   help="off: keep the pelvis above the origin (in place); "
                        f"default {on_off[d.root_motion]}")
    p.add_argument("--extremities", choices=("on", "off"), default=on_off[d.extremities],
                   help="turn the feet, toes, hands and head from MediaPipe's heel, toe, "
                        "knuckle, ear and nose landmarks (needs a file from MediaPipe; "
                        f"default {on_off[d.extremities]})")
    p.add_argument("--fov", type=number_in(1, 179), default=None, metavar="DEG",
                   help="the camera's field of view across the longer image side in degrees "
                        f"(default {d.fov_deg:g}, typical of phones); ignored with --focal-px")
    p.add_argument("--focal-px", type=number_in(0, 1e6, low_open=True), default=None, metavar="F",
                   help="the camera's focal length in pixels, if known")
    p.add_argument("--facing", default=d.facing, choices=FACINGS,
                   help=f"world axis the subject faces at the start (default {d.facing}, "
                        "Blender's front view); camera: keep the camera looking along +Y")


def retarget_options(args) -> RetargetOptions:
    """:class:`RetargetOptions` from a command line with :func:`add_retarget_arguments`."""
    return RetargetOptions(
        smoothing=args.smoothing, foot_lock=args.foot_lock == "on",
        root_motion=args.root_motion == "on", facing=args.facing, focal_px=args.focal_px,
        extremities=args.extremities == "on",
        fov_deg=DEFAULT_FOV_DEG if args.fov is None else args.fov)
