# SPDX-License-Identifier: GPL-3.0-or-later
"""Temporal smoothing with one user-facing strength (Savitzky-Golay, zero phase lag).

Strength 0 leaves the motion as it is; 1 fits quadratics over windows of
:data:`SECONDS_AT_FULL_STRENGTH`, which removes the lifter's frame-to-frame jitter while keeping
a step's timing. Offline clips are smoothed both ways in time, so nothing lags behind.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter

SECONDS_AT_FULL_STRENGTH = 0.4
POLYORDER = 2


def window_frames(fps: float, strength: float, scale: float = 1.0) -> int:
    """The odd window length (frames) for ``strength``; below 5 frames nothing is smoothed."""
    if strength < 0:
        raise ValueError("smoothing strength must be >= 0")
    frames = int(round(strength * scale * SECONDS_AT_FULL_STRENGTH * fps))
    return frames + 1 - frames % 2


def smooth(x: np.ndarray, fps: float, strength: float, scale: float = 1.0) -> np.ndarray:
    """Smooth ``x`` [F, ...] along time; ``scale`` widens the window (e.g. for the root path)."""
    x = np.asarray(x, np.float64)
    window = min(window_frames(fps, strength, scale), len(x) - 1 + len(x) % 2)
    if window < 5:
        return x.copy()
    return savgol_filter(x, window, POLYORDER, axis=0, mode="interp")


def time_derivative(x: np.ndarray) -> np.ndarray:
    """Per-frame change of ``x`` [F, ...] (central differences; zero for a one-frame clip, which
    has no motion), so that every stage takes clips of any length."""
    x = np.asarray(x, np.float64)
    if len(x) < 2:
        return np.zeros_like(x)
    return np.gradient(x, axis=0)
