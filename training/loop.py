# SPDX-License-Identifier: GPL-3.0-or-later
"""The training loop shared by the recipes: data, optimiser, epochs, validation, checkpoints.

Files in the output folder (rank 0 writes them, atomically):
  ``checkpoint.pt``     model, optimiser, scheduler and RNG states after the last finished epoch,
                        so ``--resume`` continues exactly as if never stopped;
  ``best.safetensors``  the weights with the lowest validation MPJPE (held-out frames of the
                        training subjects; the test subjects are never looked at);
  ``last.safetensors``  the final weights. Both are LiftRig weights files that ``load_lifter`` reads;
  ``log.jsonl``         one line per epoch (loss, validation error, learning rate, seconds);
  ``tensorboard/``      the same scalars, if the ``tensorboard`` package is installed.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import LiftRigError
from ..fileio import atomic_write
from . import distributed, losses
from .config import architecture
from .data.h36m import FPS as H36M_FPS
from .data.mocap import TRAIN_FPS as MOCAP_FPS, WEIGHTS_LICENSE, WEIGHTS_LICENSE_NOTE, mocap_data

CHECKPOINT = "checkpoint.pt"


def _h36m_sequences(data: dict, subjects):
    from .data.h36m import load_h36m

    return load_h36m(data["root"], data["source"], subjects)


def _humaneva_sequences(data: dict, subjects):
    from .data.humaneva import load_humaneva

    return load_humaneva(data["root"], data["source"], subjects, data["actions"])


def _3dhp_sequences(data: dict, subjects):
    from .data.mpi3dhp import load_3dhp

    if data["source"] != "gt":
        raise LiftRigError(f"data.source {data['source']!r}: the MPI-INF-3DHP files hold only the "
                           'ground-truth 2D; set source = "gt".')
    return load_3dhp(data["root"], subjects)


@dataclass(frozen=True)
class Dataset:
    """What the loop knows of a ``data.dataset``: where its windows come from, its frame rate,
    and what weights learnt from it say about themselves."""

    fps: float                          # the capture rate the network sees (before dilation)
    sequences: Callable | None = None   # (data table, subjects) -> list[Sequence], windows cut
                                        # from them by WindowDataset (and a test split)
    windows: Callable | None = None     # (cfg, num_frames) -> (training set, validation
                                        # sequences): fresh synthetic windows every epoch
    metadata: dict = field(default_factory=dict)   # written into the exported weights


DATASETS = {
    "h36m": Dataset(H36M_FPS, sequences=_h36m_sequences),
    "humaneva": Dataset(60.0, sequences=_humaneva_sequences,
                        metadata={"joints": "humaneva-15"}),   # not the Human3.6M-17 layout
    "3dhp": Dataset(25.0, sequences=_3dhp_sequences),
    # LiftRig's synthetic windows from the motion capture archives (training/data/mocap.py);
    # weights learnt from them carry the Bandai data's licence.
    "mocap": Dataset(MOCAP_FPS, windows=mocap_data,
                     metadata={"license": WEIGHTS_LICENSE, "license_note": WEIGHTS_LICENSE_NOTE}),
}


def register_dataset(name: str, loader, fps: float = H36M_FPS) -> None:
    """Make ``data.dataset = name`` load sequences with ``loader(data_table, subjects)``."""
    DATASETS[name] = Dataset(float(fps), sequences=loader)


def dataset(cfg: dict) -> Dataset:
    """The recipe's :class:`Dataset`; an unknown name is a LiftRigError that lists the known."""
    name = cfg["data"]["dataset"]
    if name not in DATASETS:
        raise LiftRigError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def load_sequences(cfg: dict, which: str):
    """The recipe's sequences: ``test`` -> the test subjects' list; ``train`` -> (training part,
    validation part) of the training subjects (the validation part is each sequence's tail)."""
    from .data.h36m import split_tail

    data, source = cfg["data"], dataset(cfg)
    if source.sequences is None:
        raise LiftRigError(f"data.dataset {data['dataset']!r} draws fresh windows for training "
                           "and has no fixed sequences to test on: use benchmarks/default_model.py")
    subjects = data["test_subjects"] if which == "test" else data["train_subjects"]
    seqs = source.sequences(data, subjects)
    if which == "test":
        return seqs
    return split_tail(seqs, float(data["val_fraction"]))


def training_fps(cfg: dict) -> float:
    """The frame rate the network sees: the dataset's rate (Human3.6M 50 fps, HumanEva-I 60,
    MPI-INF-3DHP 25) divided by the window's dilation (the synthetic motion-capture data: its own rate)."""
    source = dataset(cfg)
    if source.windows is not None:
        return source.fps
    return source.fps / max(1, int(cfg["train"]["dilation"]))


def build(cfg: dict):
    """A fresh network for the recipe (float32, CPU)."""
    from ..lifter.models import build_model

    try:
        return build_model(architecture(cfg), dict(cfg["model"]))
    except (TypeError, ValueError) as exc:
        raise LiftRigError(f"{cfg['path']}: cannot build the model from [model] ({exc})") from None


def _copy_weights(model, path: str, architecture_name: str, keep=lambda name: True):
    """The tensors of the ``architecture_name`` weights at ``path`` that ``keep`` selects, and
    the names among them that ``model`` lacks or shapes otherwise."""
    from ..lifter.checkpoints import read_checkpoint

    source, info = read_checkpoint(path)
    if info["architecture"] != architecture_name:
        raise LiftRigError(f"{path} is a {info['architecture']} model, not a {architecture_name} "
                           "model, as train.pretrained must be for this recipe.")
    ours = model.state_dict()
    chosen = {k: v for k, v in source.state_dict().items() if keep(k)}
    wrong = sorted(k for k in chosen if k not in ours or ours[k].shape != chosen[k].shape)
    return chosen, wrong


def load_pretrained_encoder(model, path: str) -> int:
    """Copy a P-STMO stage-I encoder (frame encoder, temporal layers) into ``model``; returns the
    number of tensors copied."""
    shared, wrong = _copy_weights(model, path, "pstmo-pretrain", lambda k: k.startswith(
        ("frame_encoder.", "temporal_pos", "temporal_layers.")))
    if wrong or not shared:
        raise LiftRigError(f"{path}: its encoder does not fit this model ({wrong[:3]}); stage I "
                           "and stage II need the same num_frames, dim, hidden and layers.")
    model.load_state_dict({**model.state_dict(), **shared})
    return len(shared)


def load_pretrained_weights(model, path: str, architecture_name: str) -> int:
    """Start from a whole trained model of the same architecture and shape (a fine-tuning stage,
    such as ``liftrig_default_finetune``); returns the number of tensors copied."""
    weights, wrong = _copy_weights(model, path, architecture_name)
    wrong += sorted(set(model.state_dict()) - set(weights))
    if wrong:
        raise LiftRigError(f"{path}: its weights do not fit this recipe's [model] ({wrong[:3]}); "
                           "fine-tuning needs the same num_frames, dim, depth and joints.")
    model.load_state_dict(weights)
    return len(weights)


def make_optimizer(cfg: dict, model):
    import torch

    t = cfg["train"]
    if t["optimizer"] == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"],
                                amsgrad=t["amsgrad"])
    else:
        opt = torch.optim.Adam(model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"],
                               amsgrad=t["amsgrad"])
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: lr_factor(t, epoch))


def lr_factor(t: dict, epoch: int) -> float:
    """The learning rate of ``epoch`` (from 0) over ``train.lr``: ``lr_decay`` per epoch (the
    papers' exponential schedule), then ``anneal_decay`` per epoch from ``anneal_from_epoch``
    on (0: never), a quicker cool-down for a run of fixed length. A function of the epoch
    alone, so resumed runs follow it exactly."""
    start = t["anneal_from_epoch"] or epoch
    steady = min(epoch, start)
    return t["lr_decay"] ** steady * t["anneal_decay"] ** (epoch - steady)


def masks(num_frames: int, num_joints: int, frame_ratio: float, joints_per_frame: int, device):
    """P-STMO stage I masks: ``frame_ratio`` of the frames hidden, ``joints_per_frame`` random
    joints hidden in every frame. Returns (frame mask [T], joint mask [T, J]); True = hidden."""
    import torch

    frame_mask = torch.zeros(num_frames, dtype=torch.bool)
    frame_mask[torch.randperm(num_frames)[:int(round(frame_ratio * num_frames))]] = True
    joint_mask = torch.zeros(num_frames, num_joints, dtype=torch.bool)
    if joints_per_frame > 0:
        order = torch.rand(num_frames, num_joints).argsort(dim=1)[:, :joints_per_frame]
        joint_mask.scatter_(1, order, True)
    return frame_mask.to(device), joint_mask.to(device)


def step_loss(cfg: dict, model, x, y, epoch: int | None = None):
    """The recipe's training loss for one batch (2D x [B, T, J, 2], 3D y [B, T, J, 3]) in
    ``epoch`` (counted from 0; None: as from the last epoch on)."""
    t = cfg["train"]
    task = t["task"]
    if task == "mixste":
        pred = model(x)
        loss = losses.mixste_loss(pred, y, t["tc_weight"], t["velocity_weight"])
        if t["bone_weight"] and (epoch is None or epoch >= t["bone_weight_from_epoch"]):
            from ..h36m import BONES

            loss = loss + t["bone_weight"] * losses.bone_length_consistency(pred, BONES)
        return loss
    if task == "pstmo":
        centre, every_frame = model(x)
        return losses.pstmo_loss(centre, every_frame, y)
    frame_mask, joint_mask = masks(x.shape[1], x.shape[2], t["mask_frames"], t["mask_joints"],
                                   x.device)
    return losses.mpjpe(model(x, frame_mask, joint_mask), x)  # rebuild every frame's 2D pose


def _save_checkpoint(path: Path, state: dict) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())


RESUME_KEYS = ("recipe", "epoch", "model", "optimizer", "scheduler", "history", "best_val", "rng")


def _read_resume_checkpoint(path: Path, device) -> dict:
    """The training state in ``path`` (see ``train``), read as plain weights only; a file that
    would run code, a damaged file or another kind of file is a one-line LiftRigError."""
    from ..lifter.checkpoints import load_pickle

    if not path.is_file():
        raise LiftRigError(f"--resume: no checkpoint at {path}; start without "
                           "--resume or pass the output folder of the interrupted run.")
    fresh = "LiftRig did not write this file as it is: remove it, or train into a fresh folder."
    state = load_pickle(path, map_location=device, fix=fresh)
    missing = [k for k in RESUME_KEYS if k not in state] if isinstance(state, dict) else RESUME_KEYS
    if missing:
        raise LiftRigError(f"{path} is not a LiftRig training checkpoint (it lacks "
                           f"{', '.join(missing[:4])}). {fresh}")
    return state


def _resume(path: Path, cfg: dict, model, optimizer, scheduler, device) -> tuple:
    """Restore model, optimiser, schedule and RNG from ``path``; returns (history, best value,
    next epoch). A checkpoint that does not fit the recipe is a one-line LiftRigError."""
    import torch

    from ..lifter.checkpoints import check_state_dict

    state = _read_resume_checkpoint(path, device)
    if state["recipe"] != cfg["name"]:
        raise LiftRigError(f"{path} belongs to recipe {str(state['recipe'])[:60]!r}, not "
                           f"{cfg['name']!r}: use a fresh output folder.")
    weights = state["model"]
    if not (isinstance(weights, dict) and all(isinstance(v, torch.Tensor) for v in weights.values())
            and isinstance(state["epoch"], int) and isinstance(state["history"], list)):
        raise LiftRigError(f"{path} is not a LiftRig training checkpoint (its model, epoch or "
                           "history is of the wrong kind): train into a fresh folder.")
    check_state_dict(model, state["model"], f"{path} (for recipe {cfg['name']!r})")
    try:
        optimizer.load_state_dict(state["optimizer"])
        # (checkpoints written with the older ExponentialLR lack lr_lambdas; the schedule
        # is a function of the epoch, which they hold)
        scheduler.load_state_dict({"lr_lambdas": [None] * len(optimizer.param_groups),
                                   **state["scheduler"]})
        _set_rng_state(state["rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        detail = (str(exc).splitlines() or [""])[0][:120]
        raise LiftRigError(f"{path}: its optimiser, schedule or random state does not fit this "
                           f"recipe ({type(exc).__name__}: {detail}). Train into a fresh "
                           "folder.") from None
    return state["history"], state["best_val"], state["epoch"]


def _rng_state() -> dict:
    import torch

    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def export(cfg: dict, model, path: Path, **metadata) -> None:
    """Write ``model`` as a LiftRig ``.safetensors`` file that ``load_lifter`` reads. Weights
    learnt from the motion capture archives say their licence (CC BY-NC 4.0) in the file."""
    from ..lifter.checkpoints import save_safetensors

    metadata = {**dataset(cfg).metadata, **metadata}
    save_safetensors(path, model, architecture(cfg), dict(cfg["model"]), training_fps(cfg),
                     recipe=cfg["name"], **{k: str(v) for k, v in metadata.items()})


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the tensorboard package is optional; log.jsonl has the same numbers
        return None
    return SummaryWriter(str(out / "tensorboard"))


def _training_data(cfg: dict, num_frames: int, ctx):
    """The training windows, their distributed sampler and loader, and the validation
    sequences."""
    from torch.utils.data import DataLoader, DistributedSampler

    from .data.windows import WindowDataset

    t, source = cfg["train"], dataset(cfg)
    if source.windows is not None:                  # fresh synthetic windows every epoch
        train_set, val_seqs = source.windows(cfg, num_frames)
    else:
        train_seqs, val_seqs = load_sequences(cfg, "train")
        train_set = WindowDataset(train_seqs, num_frames, t["sampling"], t["dilation"], t["flip"])
    if len(train_set) == 0:
        raise LiftRigError("the training split is empty: check data.train_subjects")
    sampler = DistributedSampler(train_set, num_replicas=ctx.world_size, rank=ctx.rank,
                                 shuffle=True, seed=t["seed"])
    loader = DataLoader(train_set, batch_size=t["batch_size"] // ctx.world_size,
                        sampler=sampler, num_workers=t["workers"],
                        pin_memory=ctx.device.type == "cuda",
                        # Fresh workers every epoch: persistent ones would draw their seed
                        # from the RNG only once, and --resume would then not be exact.
                        persistent_workers=False)
    return train_set, val_seqs, sampler, loader


def _network_to_train(model, t: dict, ctx):
    """The module the steps run: the model, wrapped for DDP and compiled when asked."""
    import torch

    net = model
    if ctx.distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None,
            find_unused_parameters=t["task"] != "mixste")
    if t["compile"]:
        net = torch.compile(net)
    return net


def _autocast(t: dict, device):
    """The precision context of the training steps: bf16 when asked ("auto": on GPUs only)."""
    import torch

    from ..lifter.inference import resolve_precision

    precision = resolve_precision(t["precision"], device)
    if t["precision"] == "auto" and device.type != "cuda":
        precision = "fp32"  # "auto" trains in bf16 on GPUs only; on a CPU ask for "bf16"
    return (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
            else torch.autocast(device.type, enabled=False))


def _train_epoch(cfg: dict, net, loader, optimizer, autocast, epoch: int, steps: int,
                 device, bar) -> float:
    """One epoch of optimiser steps; returns the mean loss of its batches."""
    total, count = 0.0, 0
    net.train()
    for i, (x, y) in enumerate(loader):
        if i >= steps:
            break
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        with autocast:
            loss = step_loss(cfg, net, x, y, epoch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        count += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{total / count:.4f}")
    return total / max(count, 1)


def _progress_bar(t: dict, epoch: int, steps: int, show: bool):
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=steps, desc=f"epoch {epoch + 1}/{t['epochs']}", unit="batch",
                dynamic_ncols=True, leave=False)


def _record_epoch(cfg: dict, out: Path, entry: dict, history: list, model, optimizer, scheduler,
                  best_val: float, writer, show_progress: bool) -> float:
    """The main process's end of an epoch: the best weights, the checkpoint, log.jsonl,
    TensorBoard and the printed line. Returns the best validation score so far."""
    history.append(entry)
    score = entry.get("val_mpjpe", entry["loss"])
    if score < best_val:
        best_val = score
        export(cfg, model, out / "best.safetensors", epoch=entry["epoch"],
               selected_on="validation")
    _save_checkpoint(out / CHECKPOINT, {
        "recipe": cfg["name"], "epoch": entry["epoch"], "model": model.state_dict(),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "history": history, "best_val": best_val, "rng": _rng_state()})
    with atomic_write(out / "log.jsonl", "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in history)
    if writer is not None:
        for key, value in entry.items():
            if key != "epoch":
                writer.add_scalar(key, value, entry["epoch"])
        writer.flush()
    if show_progress:
        print("  ".join(f"{k} {v:.5g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in entry.items()), flush=True)
    return best_val


def train(cfg: dict, resume: bool = False, show_progress: bool = True) -> dict:
    """Train a recipe (in this process, or as one rank under torchrun). Returns a summary dict
    with ``history`` (one dict per epoch), ``best_val`` and the output paths."""
    import torch

    from .evaluate import evaluate

    t = cfg["train"]
    out = Path(cfg["output"]["dir"])
    ctx = distributed.setup()
    try:
        if t["batch_size"] % ctx.world_size:
            raise LiftRigError(f"train.batch_size {t['batch_size']} is not divisible by the "
                               f"{ctx.world_size} processes")
        torch.manual_seed(t["seed"])
        model = build(cfg)
        if t["pretrained"] and t["task"] == "pstmo":
            load_pretrained_encoder(model, t["pretrained"])
        elif t["pretrained"]:
            load_pretrained_weights(model, t["pretrained"], architecture(cfg))
        model.to(ctx.device)
        optimizer, scheduler = make_optimizer(cfg, model)
        history, best_val, start = [], float("inf"), 0

        ckpt_path = out / CHECKPOINT
        if resume:
            history, best_val, start = _resume(ckpt_path, cfg, model, optimizer, scheduler,
                                               ctx.device)
        elif ctx.is_main and ckpt_path.exists():
            raise LiftRigError(f"{out} already holds a run: pass --resume to continue it, or "
                               "choose another output folder with --output.")

        train_set, val_seqs, sampler, loader = _training_data(cfg, model.num_frames, ctx)
        net = _network_to_train(model, t, ctx)
        autocast = _autocast(t, ctx.device)
        writer = _tensorboard(out) if ctx.is_main else None
        if ctx.is_main:
            out.mkdir(parents=True, exist_ok=True)

        steps = min(len(loader), t["max_steps_per_epoch"] or len(loader))
        for epoch in range(start, t["epochs"]):
            began = time.perf_counter()
            sampler.set_epoch(epoch)
            if hasattr(train_set, "set_epoch"):
                train_set.set_epoch(epoch)
            bar = _progress_bar(t, epoch, steps, show_progress and ctx.is_main)
            loss = _train_epoch(cfg, net, loader, optimizer, autocast, epoch, steps, ctx.device,
                                bar)
            if bar is not None:
                bar.close()
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            entry = {"epoch": epoch + 1, "loss": distributed.mean_across(ctx, loss), "lr": lr}
            if ctx.is_main:
                if val_seqs and t["task"] != "pstmo-pretrain":
                    res = evaluate(model, architecture(cfg), val_seqs, t["dilation"],
                                   cfg["eval"]["flip"], cfg["eval"]["batch_size"], ctx.device)
                    entry["val_mpjpe"] = res["P1"]["Avg"]  # mm
                entry["seconds"] = time.perf_counter() - began
                best_val = _record_epoch(cfg, out, entry, history, model, optimizer, scheduler,
                                         best_val, writer, show_progress)
            else:
                history.append(entry)
            distributed.barrier(ctx)
        if ctx.is_main:
            export(cfg, model, out / "last.safetensors", epoch=t["epochs"])
            if writer is not None:
                writer.close()
        distributed.barrier(ctx)
        return {"history": history, "best_val": best_val, "output": str(out), "model": model,
                "rank": ctx.rank, "world_size": ctx.world_size}
    finally:
        distributed.teardown(ctx)
