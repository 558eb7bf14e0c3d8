# SPDX-License-Identifier: GPL-3.0-or-later
"""What LiftRig needs installed: one list for the doctor and the Blender dependency installer.

``pyproject.toml`` declares the same ranges (a test keeps them equal; the extension does not
ship pyproject.toml). ``constraints.txt`` beside this file pins the exact versions the tests
passed on, so a fresh install gets what was tested, not what a registry released last night.
"""

from __future__ import annotations

from pathlib import Path

# torch is installed first, in its own step (its CPU or CUDA index), always at this version.
TORCH = "torch==2.13.0"
# (import name, pip requirement): everything else the pipeline imports.
PACKAGES = (
    ("numpy", "numpy>=1.26,<2"),
    ("cv2", "opencv-python>=4.8,<4.12"),
    ("mediapipe", "mediapipe>=0.10.14"),
    ("scipy", "scipy>=1.11"),
    ("safetensors", "safetensors>=0.4"),
    ("tqdm", "tqdm>=4.66"),
)
REQUIREMENTS = tuple(requirement for _, requirement in PACKAGES)
CONSTRAINTS = Path(__file__).resolve().parent / "constraints.txt"
