# SPDX-License-Identifier: GPL-3.0-or-later
"""The 3D stage: the lifting networks (MixSTE, P-STMO), their weights, whole-clip inference.

Importing this package stays light (no torch): :func:`load_lifter` imports the real module when
it is called, and ``Lifter`` is resolved on first access.
"""


def load_lifter(path=None, device: str = "auto", precision: str = "auto", num_heads=None):
    """Load lifting weights (None: the installed default model) and return a ``Lifter``.

    See :func:`liftrig.lifter.inference.load_lifter`.
    """
    from .inference import load_lifter as _load

    return _load(path, device=device, precision=precision, num_heads=num_heads)


def __getattr__(name):
    if name == "Lifter":
        from .inference import Lifter

        return Lifter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
