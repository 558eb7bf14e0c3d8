# SPDX-License-Identifier: GPL-3.0-or-later
"""Choices that every shell offers (``liftrig lift``, ``blender --command liftrig``, the panel),
declared once."""

# Where the lifter runs: auto = CUDA, then Apple's MPS, then the CPU.
DEVICES = ("auto", "cuda", "mps", "cpu")
# Its arithmetic: auto = bf16 on GPUs and CPUs with bf16 units, else fp32.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
