# SPDX-License-Identifier: GPL-3.0-or-later
"""Subcommands of the training package: ``liftrig train`` and ``liftrig evaluate`` (torch is
imported inside the handlers)."""

from __future__ import annotations


def add_commands(sub) -> None:
    p = sub.add_parser(
        "train", help="train a lifting model from a recipe (MixSTE, P-STMO) on Human3.6M",
        description="Train a recipe: a .toml file or the name of one in training/configs "
                    "(e.g. mixste_cpn_243). Run under torchrun for several GPUs or machines.")
    p.add_argument("config", help="recipe .toml file or shipped recipe name")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in the output folder from its last finished epoch")
    p.add_argument("--data", help="the dataset folder (overrides data.root)")
    p.add_argument("--output", help="the output folder (overrides output.dir)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_train)

    p = sub.add_parser(
        "evaluate", help="evaluate lifting weights on the recipe's test subjects (papers' table)",
        description="Print MPJPE (P1), P-MPJPE (P2) and MPJVE per action, in millimetres, with "
                    "flip test-time augmentation, for a LiftRig .safetensors file or a published "
                    "MixSTE / P-STMO checkpoint.")
    p.add_argument("config", help="recipe .toml file or shipped recipe name")
    p.add_argument("checkpoint", help="weights: .safetensors or a published checkpoint")
    p.add_argument("--data", help="the dataset folder (overrides data.root)")
    p.add_argument("--no-flip", action="store_true", help="no flip test-time augmentation")
    p.set_defaults(handler=run_evaluate)


def run_train(args) -> int:
    from .config import load_config
    from .loop import train

    cfg = load_config(args.config, data=args.data, output=args.output)
    summary = train(cfg, resume=args.resume, show_progress=not args.no_progress)
    if summary["rank"] == 0:
        what = ("lowest training loss" if cfg["train"]["task"] == "pstmo-pretrain"
                else "best validation MPJPE")
        print(f"done: {summary['output']}/last.safetensors (final), best.safetensors "
              f"({what} {summary['best_val']:.5g})")
    return 0


def run_evaluate(args) -> int:
    import torch

    from ..errors import LiftRigError
    from ..lifter.checkpoints import read_checkpoint
    from .config import architecture, load_config
    from .evaluate import evaluate, format_table
    from .loop import load_sequences

    cfg = load_config(args.config, data=args.data)
    model, info = read_checkpoint(args.checkpoint)
    if info["architecture"] not in ("mixste", "pstmo"):
        raise LiftRigError(f"{args.checkpoint} is a {info['architecture']} model, which does not "
                           "output 3D poses; evaluate a MixSTE or P-STMO stage-II model.")
    if info["architecture"] != architecture(cfg):
        raise LiftRigError(f"{args.checkpoint} is a {info['architecture']} model but the recipe "
                           f"{cfg['name']} trains {architecture(cfg)}: pass the matching recipe.")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    result = evaluate(model, info["architecture"], load_sequences(cfg, "test"),
                      cfg["train"]["dilation"], not args.no_flip, cfg["eval"]["batch_size"], device)
    unit = "PCK and AUC in %, MPJPE in mm" if cfg["data"]["dataset"] == "3dhp" else "mm"
    print(f"{cfg['name']}: {args.checkpoint} on {', '.join(cfg['data']['test_subjects'])} "
          f"({cfg['data']['source']} 2D, flip {'off' if args.no_flip else 'on'}), {unit}")
    print(format_table(result, dataset=cfg["data"]["dataset"]))
    return 0
