# SPDX-License-Identifier: GPL-3.0-or-later
"""Datasets for training: Human3.6M in the common preprocessed npz layout, its cameras, and windows."""
