# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared test fixtures: the real footage, models and mocap in ../shared (beside the repo, as in CI)."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIFTRIG_SHARED", ROOT.parent / "shared"))
POSE_MODEL = SHARED / "models" / "pose_landmarker_full.task"
VIDEOS = {
    "outdoor": SHARED / "videos" / "outdoor-two-people-30fps.mp4",
    "lab": SHARED / "videos" / "lab-two-people-60fps.mp4",
}


def shared_path(*parts) -> Path:
    """A file under ../shared; a missing one fails the test loudly (CI always has shared/)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared beside the repository")
    return path
