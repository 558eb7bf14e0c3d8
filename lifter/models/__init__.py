# SPDX-License-Identifier: GPL-3.0-or-later
"""The lifting networks (imports torch): MixSTE and P-STMO, built by architecture name."""

from __future__ import annotations

from .layers import attention_impl
from .mixste import MixSTE
from .pstmo import PSTMO, PSTMOPretrain

ARCHITECTURES = {"mixste": MixSTE, "pstmo": PSTMO, "pstmo-pretrain": PSTMOPretrain}

# The frame rate each architecture's published weights were trained at (Human3.6M is 50 fps;
# P-STMO takes every 2nd frame of it).
PUBLISHED_FPS = {"mixste": 50.0, "pstmo": 25.0, "pstmo-pretrain": 25.0}


def build_model(architecture: str, config: dict):
    """A freshly initialised network of ``architecture`` with constructor arguments ``config``."""
    try:
        cls = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; "
                         f"known: {', '.join(ARCHITECTURES)}") from None
    return cls(**config)


__all__ = ["ARCHITECTURES", "PUBLISHED_FPS", "MixSTE", "PSTMO", "PSTMOPretrain",
           "attention_impl", "build_model"]
