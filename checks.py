# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks at the boundary: numbers a user types, files a command will write, arrays between stages.

Every check fails with a :class:`LiftRigError` (or, for command-line numbers, argparse's own
one-line error) that names the value and what is allowed, before any work is done.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

from .errors import LiftRigError


class OneLineParser(argparse.ArgumentParser):
    """A mistyped option is one line on stderr and exit 2, like every other user mistake
    (argparse's own prints the usage first). Subcommands' parsers are of the same class."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --- numbers typed on the command line (argparse ``type=`` functions) ---------------------------

def number_in(low: float, high: float, *, integer: bool = False, low_open: bool = False):
    """An argparse type: a finite number in [low, high] (``low_open``: low itself excluded)."""
    def parse(text: str):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            bound = f"above {low:g}" if low_open else f"from {low:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: use {bound} to {high:g}")
        return value
    parse.__name__ = "integer" if integer else "number"
    return parse


FRAME_RATE = number_in(0, 1000, low_open=True)            # frames per second
FRAME_NUMBER = number_in(0, 10**8, integer=True)           # a frame of a video


def checked_number(value, name: str, kind: str = "positive", limit: float = math.inf):
    """``value`` (a number, or text: a file's field, a metadata entry) as a number of ``kind``
    within ``limit``: "count" (a whole number from 1), "positive" (a finite number above 0) or
    "rate" (from 0 up to, not including, 1); an int for "count", else a float. Anything else
    (text that is no number, NaN, infinity, a bool, out of range) raises a LiftRigError naming
    ``name``."""
    bound = f" and at most {limit:g}" if math.isfinite(limit) else ""
    want = {"count": f"a whole number of at least 1{bound}",
            "positive": f"a finite number above 0{bound}",
            "rate": "a number from 0 up to, not including, 1"}[kind]
    number = value
    if isinstance(value, str):
        try:
            number = int(value) if kind == "count" else float(value)
        except ValueError:
            number = None
    ok = isinstance(number, (int, float)) and not isinstance(number, bool)  # True is an int
    if ok and kind == "count":
        ok = isinstance(number, int) and 1 <= number <= limit
    elif ok:
        try:
            number = float(number)
        except OverflowError:  # an int too large for a float
            number = math.inf
        ok = math.isfinite(number) and (0 <= number < 1 if kind == "rate" else 0 < number <= limit)
    if not ok:
        try:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        except ValueError:  # an int too long for Python to print
            shown = "a number too long to print"
        raise LiftRigError(f"{name} must be {want}, not {shown}")
    return number


def check_finite(name: str, values, fix: str):
    """Refuse an array with NaN or infinite values at a hand-off between stages."""
    import numpy as np  # here: the command line's parsers import this module and stay light

    values = np.asarray(values)
    if values.size and not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise LiftRigError(f"{name} has {bad} non-finite value(s) (NaN or infinity); {fix}")
    return values


# --- values read from files -----------------------------------------------------------------

def describe_json(value) -> str:
    """A JSON value as an error message shows it: short, on one line."""
    if isinstance(value, (bool, int, float)) or value is None:
        text = json.dumps(value)
        return text if len(text) <= 20 else f"a {len(text)}-digit number"
    if isinstance(value, str):
        return f"the text {value[:40]!r}" + ("..." if len(value) > 40 else "")
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    return "an object"


# --- files a command will write ---------------------------------------------------------------

def check_output_path(path, suffixes: tuple[str, ...] | None = None, what: str = "output") -> Path:
    """Check before the work that ``path`` can be written: the suffix is one of ``suffixes``,
    it is not a folder, not read-only, and its folder exists (or can be made) and takes a new
    file (tried for real, so read-only disks, /proc and permissions all show)."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise LiftRigError(f"cannot write {path.name!r}: the {what} must end in "
                           f"{' or '.join(suffixes)}")
    if path.is_dir():
        raise LiftRigError(f"{path} is a folder: give a file name for the {what}, "
                           f"e.g. {path / ('out' + (suffixes[0] if suffixes else ''))}")
    if path.exists() and (not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222):
        raise LiftRigError(f"{path} is read-only: choose another file name or make it writable")
    folder = path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise LiftRigError(f"cannot write {path}: {existing} is not a folder")
    try:
        if existing == folder:
            with tempfile.TemporaryFile(dir=folder, prefix=".liftrig-check."):
                pass
        else:  # the folders will be made: the nearest existing one must take them
            with tempfile.TemporaryDirectory(dir=existing, prefix=".liftrig-check."):
                pass
    except OSError as exc:
        raise LiftRigError(f"cannot write {path}: {folder} does not take new files "
                           f"({exc.strerror or exc}); choose another folder") from None
    return path
