# SPDX-License-Identifier: GPL-3.0-or-later
"""Recipes: TOML files (``training/configs/*.toml``) read into a checked, plain-dict config.

A recipe names the data, the model (the constructor arguments of ``lifter.models``), the task
(``mixste``, ``pstmo-pretrain`` or ``pstmo``) and the optimisation. Every key is checked, so a typo
is an error, not a silently ignored setting.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

from ..errors import LiftRigError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
TASKS = {"mixste": "mixste", "pstmo-pretrain": "pstmo-pretrain", "pstmo": "pstmo"}

DEFAULTS = {
    "name": "",
    "data": {"dataset": "h36m", "root": "data/h36m", "source": "cpn_ft_h36m_dbb",
             "train_subjects": ["S1", "S5", "S6", "S7", "S8"], "test_subjects": ["S9", "S11"],
             "val_fraction": 0.05,
             # HumanEva-I: keep the actions whose names start with one of these (empty = all).
             "actions": [],
             # data.dataset = "mocap" (training/data/mocap.py): synthetic windows per epoch,
             # fixed validation windows, and where the extracted archives are cached.
             "windows_per_epoch": 2048, "val_windows": 192, "cache": "",
             # the virtual cameras step back to keep the subject in the picture (mocap.film)
             "keep_in_frame": True,
             # mocap.synthesis_options: camera population, drawn bodies, detector-seen targets
             "cameras": "studio", "bodies": False, "seen_targets": False,
             # mocap.DETECTORS: the 2D detector's errors (auto: real_body with bodies, else studio)
             "detector": "auto",
             # mocap.clip_weights: {source = share} of the training windows (default: by length)
             "source_shares": {}},
    "model": {},
    "train": {"task": "mixste", "epochs": 120, "batch_size": 4, "optimizer": "adamw",
              "lr": 4e-5, "weight_decay": 0.0, "amsgrad": False, "lr_decay": 0.99,
              "anneal_from_epoch": 0, "anneal_decay": 0.9,
              "sampling": "chunks", "dilation": 1, "flip": True, "seed": 1, "workers": 2,
              "precision": "auto", "compile": False, "pretrained": "",
              "mask_frames": 0.6, "mask_joints": 3, "tc_weight": 0.5, "velocity_weight": 2.0,
              "bone_weight": 0.0, "bone_weight_from_epoch": 0,
              "max_steps_per_epoch": 0},
    "eval": {"flip": True, "batch_size": 64},
    "output": {"dir": "runs/default"},
}


# Tables whose keys are the recipe's own (the network's arguments, the mocap sources' shares).
OPEN_TABLES = {"model", "source_shares"}


def _merge(defaults: dict, given: dict, where: str) -> dict:
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            raise LiftRigError(f"unknown setting {where + key!r} in the recipe; known: "
                               f"{', '.join(defaults)}")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise LiftRigError(f"[{where}{key}] must be a table")
            out[key] = value if key in OPEN_TABLES else _merge(defaults[key], value, f"{key}.")
        else:
            out[key] = value
    return out


def resolve_path(name_or_path: str) -> Path:
    """A recipe file: an existing path, else the name of a recipe shipped in training/configs."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / (path.name if path.suffix == ".toml" else path.name + ".toml")
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
    raise LiftRigError(f"recipe {name_or_path!r} not found: pass a .toml file or one of: {names}")


def load_config(name_or_path: str, data: str | None = None, output: str | None = None) -> dict:
    """Read a recipe; ``data`` and ``output`` override its data folder and output folder."""
    path = resolve_path(name_or_path)
    try:
        given = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise LiftRigError(f"{path} is not valid TOML ({exc}).") from None
    cfg = _merge(DEFAULTS, given, "")
    cfg["name"] = cfg["name"] or path.stem
    if data:
        cfg["data"]["root"] = data
    if output:
        cfg["output"]["dir"] = output
    train = cfg["train"]
    if train["task"] not in TASKS:
        raise LiftRigError(f"{path}: train.task must be one of {', '.join(TASKS)}, "
                           f"got {train['task']!r}")
    if train["sampling"] not in ("chunks", "centred"):
        raise LiftRigError(f"{path}: train.sampling must be 'chunks' or 'centred'")
    if train["optimizer"] not in ("adam", "adamw"):
        raise LiftRigError(f"{path}: train.optimizer must be 'adam' or 'adamw'")
    if "num_frames" not in cfg["model"]:
        raise LiftRigError(f"{path}: [model] needs num_frames (the window length T)")
    cfg["path"] = str(path)
    return cfg


def architecture(cfg: dict) -> str:
    """The ``lifter.models`` architecture a recipe trains."""
    return TASKS[cfg["train"]["task"]]
