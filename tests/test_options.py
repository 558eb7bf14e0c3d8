# SPDX-License-Identifier: GPL-3.0-or-later
"""Every shell offers the stages' options as options.py declares them: the same flags, the same
defaults (the command lines, the headless batch, the panel's settings)."""

import dataclasses

import pytest

from liftrig.options import LiftOptions, RetargetOptions, lift_options, retarget_options

# RetargetOptions' fields a user chooses; ankle_height is the Python API's alone.
RETARGET_FLAGS = {"smoothing": "--smoothing", "foot_lock": "--foot-lock",
                  "root_motion": "--root-motion", "fov_deg": "--fov", "focal_px": "--focal-px",
                  "facing": "--facing", "extremities": "--extremities"}
LIFT_FLAGS = {"weights": "--weights", "device": "--device", "precision": "--precision",
              "flip": "--no-flip", "pose_model": "--pose-model", "person": "--person",
              "max_people": "--max-people", "start": "--start", "end": "--end", "jobs": "--jobs"}


def _parsers():
    """(name, parser, arguments that make a minimal command line) for each shell."""
    from liftrig.addon.batch import build_parser as batch_parser
    from liftrig.cli import build_parser

    cli = build_parser()
    return [("liftrig lift", cli, ["lift", "in.mp4", "-o", "out.bvh"], True),
            ("liftrig retarget", cli, ["retarget", "j.npz", "-o", "out.bvh"], False),
            ("blender --command liftrig", batch_parser(), ["in.mp4", "-o", "out"], True)]


def _flags(parser, argv) -> set[str]:
    """The option strings of the subcommand ``argv[0]`` names (or of the parser itself)."""
    import argparse

    for action in parser._actions:                      # argparse keeps subparsers here
        if isinstance(action, argparse._SubParsersAction) and argv[0] in action.choices:
            parser = action.choices[argv[0]]
    return {s for action in parser._actions for s in action.option_strings}


@pytest.mark.parametrize("name, parser, argv, lifts", _parsers(), ids=lambda x: str(x)[:30])
def test_every_command_line_offers_the_options_with_the_stages_defaults(name, parser, argv,
                                                                         lifts):
    args = parser.parse_args(argv)
    flags = _flags(parser, argv)
    assert set(RETARGET_FLAGS.values()) <= flags, name
    assert retarget_options(args) == RetargetOptions(), name
    if lifts:
        assert set(LIFT_FLAGS.values()) <= flags, name
        assert lift_options(args) == LiftOptions(), name
    # ... and what is asked for arrives.
    args = parser.parse_args(argv + ["--smoothing", "0.2", "--foot-lock", "off", "--fov", "40",
                                     "--facing", "camera", "--extremities", "off"])
    assert retarget_options(args) == RetargetOptions(smoothing=0.2, foot_lock=False,
                                                     fov_deg=40.0, facing="camera",
                                                     extremities=False), name


def test_every_field_is_declared():
    assert set(RETARGET_FLAGS) == {f.name for f in dataclasses.fields(RetargetOptions)} - {
        "ankle_height"}
    assert set(LIFT_FLAGS) == {f.name for f in dataclasses.fields(LiftOptions)}


def test_the_panel_starts_from_the_same_defaults():
    from liftrig.addon import settings

    def default(name):                # the module's annotations are text (postponed)
        declared = settings.LiftRigSettings.__annotations__[name]
        return eval(declared, vars(settings)).keywords["default"]
    r, lift = RetargetOptions(), LiftOptions()
    assert default("smoothing") == r.smoothing and default("foot_lock") == r.foot_lock
    assert default("extremities") == r.extremities
    assert (default("root_motion") == "ON") == r.root_motion
    assert default("pose_model") == lift.pose_model
    assert settings.device_name(default("device")) == lift.device
