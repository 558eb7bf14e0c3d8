# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless batch conversion: ``blender -b --command liftrig VIDEO... -o OUT`` (registered with
``bpy.utils.register_cli_command``), ``blender -b -P addon/batch_script.py -- ...``, and
:func:`run` for tests and ``liftrig lift -o OUT.fbx``.

Clips are converted one by one, each in a fresh scene; a clip that fails is reported and the
others go on. A summary table ends the run; the exit code is 1 if any clip failed.
"""

from __future__ import annotations

import argparse
import sys
import time
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import bpy

from .. import options
from ..checks import OneLineParser, check_output_path, number_in
from ..errors import Cancelled, LiftRigError
from ..options import LiftOptions
from ..pipeline.clips import VIDEO_SUFFIXES, clip_name
from ..progress import ProgressFn

FORMATS = (".fbx", ".bvh", ".blend")


@dataclass
class Row:
    """One clip's line in the summary table."""

    source: Path
    output: Path | None
    ok: bool
    frames: int = 0
    fps: float = 0.0
    seconds: float = 0.0
    message: str = ""


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="blender -b --command liftrig",
        description="Convert videos (or keypoints/joints .npz files) to animated armatures, "
                    "saved as FBX, BVH or .blend. Folders are searched for videos.")
    p.add_argument("inputs", nargs="+", metavar="VIDEO", help="videos, .npz files or folders")
    p.add_argument("-o", "--output", required=True,
                   help="OUT.fbx|OUT.bvh|OUT.blend for one clip; for several, a folder (one "
                        "file per clip, see --format) or a name with {name} (the clip's name)")
    p.add_argument("--format", choices=("fbx", "bvh", "blend"), default="fbx",
                   help="file type when -o is a folder (default fbx)")
    p.add_argument("--rig", metavar="RIG.blend|RIG.fbx",
                   help="the armature to animate (default: LiftRig's skeleton sized to the "
                        "subject); a .blend is opened, an .fbx imported into an empty scene")
    p.add_argument("--armature", metavar="NAME", help="which armature of --rig (default: the "
                   "one with the most bones)")
    p.add_argument("--map", default=None, metavar="PRESET|MAP.json",
                   help="bone map for --rig: rigify, rigify-metarig, mixamo, ue5, builtin or a "
                        "JSON file (default: detected from the bone names)")
    p.add_argument("--frame-start", type=number_in(-10**6, 10**6, integer=True), default=1,
                   help="first frame of the action")
    p.add_argument("--empties", action="store_true",
                   help="also the 3D joints as animated empties (for inspection)")
    p.add_argument("--reference", action="store_true",
                   help="also the solved camera, with the video as its background")
    g = p.add_argument_group("lifting (as liftrig lift)")
    options.add_lifter_arguments(g)
    options.add_detection_arguments(g)
    g.add_argument("--worker-python", metavar="PYTHON",
                   help="run the stages before Blender (2D, lifting, retargeting) in this "
                        "interpreter (one with LiftRig's requirements) instead of Blender's; "
                        "default $LIFTRIG_WORKER_PYTHON when Blender's Python lacks them")
    options.add_retarget_arguments(p.add_argument_group("retargeting (as liftrig retarget)"))
    p.add_argument("-q", "--quiet", action="store_true", help="no per-clip progress lines")
    return p


def expand_inputs(inputs) -> list[Path]:
    """Files as given; folders replaced by the videos and .npz files in them, sorted."""
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            out += sorted(f for f in item.iterdir() if f.is_file()
                          and f.suffix.lower() in VIDEO_SUFFIXES | {".npz"})
        else:
            out.append(item)
    return out


def output_paths(sources: list[Path], output: str, fmt: str) -> list[Path]:
    """Where each clip goes: -o as a file (one clip), a {name} pattern, or a folder."""
    out = Path(output)
    if "{name}" in output:
        paths = [Path(output.replace("{name}", clip_name(s))) for s in sources]
    elif out.suffix.lower() in FORMATS and not out.is_dir():
        if len(sources) != 1:
            raise LiftRigError(f"-o {output} names one file but there are {len(sources)} clips: "
                               "give a folder or a name with {name}")
        paths = [out]
    elif out.suffix and not out.is_dir():
        raise LiftRigError(f"cannot write {out.name!r}: use .fbx, .bvh, .blend or a folder")
    else:
        paths = [out / f"{clip_name(s)}.{fmt}" for s in sources]
    bad = [p for p in paths if p.suffix.lower() not in FORMATS]
    if bad:
        raise LiftRigError(f"cannot write {bad[0].name!r}: use .fbx, .bvh or .blend")
    for path in paths:  # before any clip is converted
        check_output_path(path)
    return paths


def fresh_scene(rig_file: Path | None = None, armature_name: str | None = None):
    """An empty scene, or the rig file's scene; returns (scene, armature or None)."""
    from .animation import find_armature
    from .export import ensure_addon

    if rig_file is None:
        bpy.ops.wm.read_homefile(use_empty=True)
        return bpy.context.scene, None
    rig_file = Path(rig_file)
    if not rig_file.is_file():
        raise LiftRigError(f"rig file not found: {rig_file}")
    suffix = rig_file.suffix.lower()
    if suffix == ".blend":
        bpy.ops.wm.open_mainfile(filepath=str(rig_file), load_ui=False)
    elif suffix == ".fbx":
        bpy.ops.wm.read_homefile(use_empty=True)
        ensure_addon("io_scene_fbx")
        bpy.ops.import_scene.fbx(filepath=str(rig_file))
    else:
        raise LiftRigError(f"--rig {rig_file.name}: use a .blend or .fbx file")
    try:
        armature = find_armature(bpy.context.scene.objects, armature_name)
    except LiftRigError as exc:
        raise LiftRigError(f"{rig_file.name}: {exc}") from None
    return bpy.context.scene, armature


def write_output(applied, path: Path) -> None:
    from .export import export_bvh, export_fbx, save_blend

    suffix = path.suffix.lower()
    if suffix == ".fbx":
        export_fbx(applied.armature, path)
    elif suffix == ".bvh":
        export_bvh(applied.armature, path, applied.frame_start, applied.frame_end)
    else:
        save_blend(path)


def convert_one(source, output, lift_options: LiftOptions = LiftOptions(),
                retarget_options=None, rig_file=None, armature_name: str | None = None,
                bone_map=None, worker_python: str | None = None, frame_start: int = 1,
                progress: ProgressFn | None = None, empties: bool = False,
                reference: bool = False) -> Row:
    """One clip -> one file, in a fresh scene. Raises on failure (the file is not written)."""
    from .animation import lift_to_scene

    started = time.perf_counter()
    source, output = Path(source), Path(output)
    if output.suffix.lower() not in FORMATS:
        raise LiftRigError(f"cannot write {output.name!r}: use .fbx, .bvh or .blend")
    if not source.is_file():
        raise LiftRigError(f"input not found: {source}")
    scene, armature = fresh_scene(rig_file, armature_name)
    applied = lift_to_scene(scene, source, armature, bone_map, lift_options, retarget_options,
                            worker_python, frame_start, progress, empties, reference)
    write_output(applied, output)
    frames = applied.frame_end - applied.frame_start + 1
    return Row(source, output, True, frames, applied.fps, time.perf_counter() - started,
               applied.report)


def options_from_args(args):
    """(LiftOptions, retargeting options as a dict of RetargetOptions' fields, as the worker
    takes them)."""
    return options.lift_options(args), dataclasses.asdict(options.retarget_options(args))


def summary_table(rows: list[Row]) -> str:
    """A plain-text table: clip, result, frames, fps, seconds, output or error."""
    head = ("clip", "result", "frames", "fps", "seconds", "output / error")
    lines = [(r.source.name, "ok" if r.ok else "FAILED", str(r.frames) if r.ok else "-",
              f"{r.fps:g}" if r.ok else "-", f"{r.seconds:.1f}",
              str(r.output) if r.ok else r.message) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *lines)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [fmt(head), fmt(tuple("-" * w for w in widths))] + [fmt(c) for c in lines]
    failed = sum(not r.ok for r in rows)
    out.append(f"{len(rows) - failed} of {len(rows)} clips converted"
               + (f", {failed} failed" if failed else ""))
    return "\n".join(out)


def run(argv: list[str], stdout=None) -> int:
    """The batch command as a plain function: 0 if every clip converted, 1 if any failed,
    2 for bad arguments, 130 when interrupted."""
    stdout = stdout or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        sources = expand_inputs(args.inputs)
        if not sources:
            raise LiftRigError("no videos or .npz files found in " + ", ".join(args.inputs))
        outputs = output_paths(sources, args.output, args.format)
        lift, retarget = options_from_args(args)
    except LiftRigError as exc:
        print(f"liftrig: error: {exc}", file=sys.stderr)
        return 2
    rows = []
    for i, (source, output) in enumerate(zip(sources, outputs), 1):
        if not args.quiet:
            print(f"[{i}/{len(sources)}] {source} -> {output}", file=stdout, flush=True)
        started = time.perf_counter()
        try:
            rows.append(convert_one(source, output, lift, retarget, args.rig, args.armature,
                                    args.map, args.worker_python, args.frame_start,
                                    empties=args.empties, reference=args.reference))
        except (KeyboardInterrupt, Cancelled):
            rows.append(Row(source, None, False, seconds=time.perf_counter() - started,
                            message="cancelled"))
            print(summary_table(rows), file=stdout)
            return 130
        except LiftRigError as exc:
            rows.append(Row(source, None, False, seconds=time.perf_counter() - started,
                            message=str(exc)))
        except Exception as exc:  # a bug: keep going, but say what it was
            rows.append(Row(source, None, False, seconds=time.perf_counter() - started,
                            message=f"internal error: {type(exc).__name__}: {exc}"))
        if not args.quiet and not rows[-1].ok:
            print(f"  failed: {rows[-1].message}", file=stdout, flush=True)
    print(summary_table(rows), file=stdout, flush=True)
    return 0 if all(r.ok for r in rows) else 1


def cli_command(argv: list[str]) -> int:
    """``blender -b --command liftrig ...``."""
    return run(list(argv))
