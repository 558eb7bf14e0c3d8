# SPDX-License-Identifier: GPL-3.0-or-later
"""Subcommands of the orchestration layer: ``liftrig doctor``."""

from __future__ import annotations


def add_commands(sub) -> None:
    p = sub.add_parser("doctor", help="check what this Python can do for LiftRig",
                       description="Check this Python, the modules LiftRig needs (torch and the "
                       "device it finds, MediaPipe, OpenCV, SciPy, numpy), the pose model and "
                       "the default lifter weights. Exit code 1 when something needed is missing.")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--pose-model", default="full",
                   help="pose model name (lite, full, heavy) or .task path (default full)")
    p.set_defaults(handler=_doctor)


def _doctor(args) -> int:
    import json

    from ..subprocesses import stdout_to_stderr
    from .doctor import check, format_report

    if args.json:
        with stdout_to_stderr():               # whatever the imports print stays off the JSON
            report = check(args.pose_model)
        print(json.dumps(report, indent=1))
    else:
        report = check(args.pose_model)
        print(format_report(report))
    return 0 if report["ok"] else 1
