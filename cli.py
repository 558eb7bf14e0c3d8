# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``liftrig`` command line (also ``python -m liftrig``).

Each area declares its subcommands in a light ``*commands`` module with ``add_commands(sub)``;
heavy imports (cv2, mediapipe, torch) happen inside the handlers, so ``liftrig --help`` is fast.
A handler returns an exit code. A :class:`LiftRigError` becomes one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from . import __version__
from .checks import OneLineParser
from .errors import Cancelled, LiftRigError

# Modules (relative to this package) whose add_commands(subparsers) declare subcommands.
COMMAND_MODULES = (
    ".detect.commands",
    ".lifter.commands",
    ".retarget.commands",
    ".training.commands",
    ".pipeline.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="liftrig",
        description="Video of a person in, an animated armature out.")
    parser.add_argument("--version", action="version", version=f"liftrig {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name, __package__)
        except ModuleNotFoundError as exc:
            # The Blender extension ships without training/: its commands are simply absent.
            if name == ".training.commands" and exc.name == f"{__package__}.training":
                continue
            raise
        module.add_commands(sub)
    return parser


def _finish_once_written(path) -> None:
    """Once an output is in place, Ctrl+C no longer interrupts: the command has done its work
    and only reports it (an exit 130 would claim nothing was written)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def main(argv: list[str] | None = None) -> int:
    from .fileio import AFTER_REPLACE

    command = "liftrig"
    on_main_thread = threading.current_thread() is threading.main_thread()
    sigint = signal.getsignal(signal.SIGINT) if on_main_thread else None
    AFTER_REPLACE.append(_finish_once_written)
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a mistyped option (one line printed)
            return int(exc.code or 0) if not isinstance(exc.code, str) else 2
        command = f"liftrig {args.command}"
        return int(args.handler(args) or 0)
    except LiftRigError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Cancelled):
        print(f"{command}: cancelled; no output was written.", file=sys.stderr)
        return 130
    finally:
        AFTER_REPLACE.remove(_finish_once_written)
        if on_main_thread and sigint is not None:
            signal.signal(signal.SIGINT, sigint)


if __name__ == "__main__":
    sys.exit(main())
