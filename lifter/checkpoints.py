# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading and writing lifter weights: the published MixSTE and P-STMO checkpoints, and ours.

* Published MixSTE: a torch pickle whose entry ``model_pos`` is the state dict (keys ``module.*``).
* Published P-STMO: a torch pickle that is the bare state dict (keys ``module.*``).
* LiftRig: a ``.safetensors`` file with our parameter names; its metadata holds the architecture,
  the constructor config and the frame rate the weights were trained at.

Pickles are read with ``weights_only=True`` (plus numpy's array constructors, which the published
MixSTE files need for their stored random state), so a file that would run code is refused. Every
key is accounted for: unknown, missing or mis-shaped parameters are errors, never skipped.
The architecture and its sizes are read off the keys and shapes; only the number of attention
heads is invisible in the weights (the published models all use 8).

Nothing in a file is trusted before it is checked: metadata values must be of the right type,
finite and in range, every tensor's shape must be the one the described network has (worked out
on torch's meta device, so a file asking for a huge model costs nothing to refuse), and the
weights must be finite, before the real network is built and loaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..checks import checked_number
from ..errors import LiftRigError
from ..fileio import atomic_write

FORMAT = "liftrig-lifter"
FORMAT_VERSION = "1"
JOINT_LAYOUT = "h36m-17"
DEFAULT_HEADS = 8
MAX_FPS = 1000.0  # above any camera's rate: a larger training frame rate is a damaged file

# The constructor settings a weights file may ask for: the kind of number each is and a bound
# generous for any lifter, so that a damaged or hostile file is refused by its numbers alone.
# "count": a whole number from 1 to the bound; "counts": a list of them; "positive": a finite
# number above 0, at most the bound; "rate": a fraction from 0 up to, not including, 1.
CONFIG_LIMITS = {
    "num_frames": ("count", 4096), "num_joints": ("count", 1024), "in_chans": ("count", 16),
    "dim": ("count", 8192), "depth": ("count", 128), "layers": ("count", 128),
    "hidden": ("count", 65536), "num_heads": ("count", 1024), "strides": ("counts", 4096),
    "mlp_ratio": ("positive", 64.0), "drop": ("rate", 1), "attn_drop": ("rate", 1),
    "drop_path": ("rate", 1), "dropout": ("rate", 1),
}
# Metadata entries save_safetensors writes itself; any others (the licence above all) describe
# where the weights came from and are carried over when a file is converted.
_DERIVED_METADATA = ("format", "format_version", "architecture", "config", "fps", "joints")

# --- Name tables: (published name, our name, published weight is a 1x1 conv of ours) ----------
# {i} is a layer index, {p} a module's parameter or buffer name, {rest} any dotted remainder.


def _pstmo_layer(published: str, ours: str, strided: bool) -> list[tuple[str, str, bool]]:
    rows = [(f"{published}.self_attn.linears.{n}.{{p}}", f"{ours}.attn.{name}.{{p}}", False)
            for n, name in enumerate(("q", "k", "v", "proj"))]
    rows += [(f"{published}.feed_forward.w_1.{{p}}", f"{ours}.ffn.fc1.{{p}}", strided),
             (f"{published}.feed_forward.w_2.{{p}}",
              f"{ours}.ffn.conv.{{p}}" if strided else f"{ours}.ffn.fc2.{{p}}", False)]
    for n in (0, 1):
        rows += [(f"{published}.sublayer.{n}.norm.a_2", f"{ours}.norm{n + 1}.weight", False),
                 (f"{published}.sublayer.{n}.norm.b_2", f"{ours}.norm{n + 1}.bias", False)]
    return rows


def _norm(published: str, ours: str) -> list[tuple[str, str, bool]]:
    return [(f"{published}.a_2", f"{ours}.weight", False), (f"{published}.b_2", f"{ours}.bias", False)]


_PSTMO_ENCODER = [
    ("encoder.fc_1.{p}", "frame_encoder.fc_in.{p}", True),
    ("encoder.bn_1.{p}", "frame_encoder.bn_in.{p}", False),
    ("encoder.layers.{i}.w1.{p}", "frame_encoder.blocks.{i}.fc1.{p}", True),
    ("encoder.layers.{i}.batch_norm1.{p}", "frame_encoder.blocks.{i}.bn1.{p}", False),
    ("encoder.layers.{i}.w2.{p}", "frame_encoder.blocks.{i}.fc2.{p}", True),
    ("encoder.layers.{i}.batch_norm2.{p}", "frame_encoder.blocks.{i}.bn2.{p}", False),
    ("encoder.fc_2.{p}", "frame_encoder.fc_out.{p}", True),
    ("Transformer.pos_embedding", "temporal_pos", False),
    *_pstmo_layer("Transformer.model.layers.{i}", "temporal_layers.{i}", strided=False),
    *_norm("Transformer.model.norm", "temporal_final_norm"),
]

NAME_TABLES = {
    "mixste": [
        ("Spatial_patch_to_embedding.{p}", "embed.{p}", False),
        ("Spatial_pos_embed", "spatial_pos", False),
        ("Temporal_pos_embed", "temporal_pos", False),
        ("STEblocks.{i}.{rest}", "spatial_blocks.{i}.{rest}", False),
        ("TTEblocks.{i}.{rest}", "temporal_blocks.{i}.{rest}", False),
        ("Spatial_norm.{p}", "spatial_norm.{p}", False),
        ("Temporal_norm.{p}", "temporal_norm.{p}", False),
        ("head.{i}.{p}", "head.{i}.{p}", False),
    ],
    "pstmo": [
        *_PSTMO_ENCODER,
        *[(f"Transformer_reduce.model.pos_embedding_{n + 1}", f"aggregator_pos.{n}", False)
          for n in range(3)],
        *_pstmo_layer("Transformer_reduce.model.layers.{i}", "aggregator_layers.{i}", strided=True),
        *_norm("Transformer_reduce.model.norm", "aggregator_final_norm"),
        ("fcn.0.{p}", "head.norm.{p}", False),
        ("fcn.1.{p}", "head.proj.{p}", True),
        ("fcn_1.0.{p}", "head_all.norm.{p}", False),
        ("fcn_1.1.{p}", "head_all.proj.{p}", True),
    ],
    "pstmo-pretrain": [
        *_PSTMO_ENCODER,
        *_norm("encoder_LN", "encoder_norm"),
        ("encoder_to_decoder.weight", "to_decoder.weight", False),
        ("dec_pos_embedding", "decoder_pos", False),
        ("mask_token", "mask_token", False),
        ("spatial_mask_token", "joint_mask_token", False),
        *_pstmo_layer("Transformer_dec.model.layers.{i}", "decoder_layers.{i}", strided=False),
        *_norm("Transformer_dec.model.norm", "decoder_final_norm"),
        ("fcn_dec.0.{p}", "head.norm.{p}", False),
        ("fcn_dec.1.{p}", "head.proj.{p}", True),
    ],
}

_PLACEHOLDERS = {"{i}": r"(?P<i>\d+)", "{rest}": r"(?P<rest>.+)",
                 "{p}": r"(?P<p>weight|bias|running_mean|running_var|num_batches_tracked)"}


def _pattern(template: str) -> re.Pattern:
    regex = re.escape(template)
    for placeholder, group in _PLACEHOLDERS.items():
        regex = regex.replace(re.escape(placeholder), group)
    return re.compile(regex + "$")


def _rename(state: dict, architecture: str, to_ours: bool) -> tuple[dict, list[str]]:
    """Rename keys between the published and our layout; returns (renamed, unknown keys)."""
    rows = [(_pattern(pub if to_ours else our), our if to_ours else pub, conv)
            for pub, our, conv in NAME_TABLES[architecture]]
    out, unknown = {}, []
    for key, value in state.items():
        for pattern, template, conv in rows:
            m = pattern.match(key)
            if m:
                name = template.format(**m.groupdict())
                if conv and name.endswith("weight") and value is not None:
                    # published 1x1 Conv1d [o, i, 1] <-> our Linear [o, i]
                    if not to_ours:
                        value = value.unsqueeze(-1)
                    elif value.ndim == 3 and value.shape[-1] == 1:
                        value = value.squeeze(-1)
                out[name] = value
                break
        else:
            unknown.append(key)
    return out, unknown


def to_published_state_dict(state: dict, architecture: str) -> dict:
    """Our state dict -> the published implementation's key names and shapes (no prefix)."""
    out, unknown = _rename(state, architecture, to_ours=False)
    if unknown:
        raise ValueError(f"keys without a published name: {unknown[:5]}")
    return out


# --- Checking numbers (checks.checked_number) ---------------------------------------------------

def check_config(architecture: str, config, what: str) -> dict:
    """The constructor settings ``config`` of ``architecture``, checked one by one against its
    constructor's arguments and CONFIG_LIMITS, and num_heads against the widths it splits, so
    that nothing is built from a bad value. Returns them as plain ints and floats."""
    import inspect

    from .models import ARCHITECTURES

    if architecture not in ARCHITECTURES:
        raise LiftRigError(f"{what}: unknown architecture {architecture!r} in its metadata "
                           f"(known: {', '.join(ARCHITECTURES)}).")
    if not isinstance(config, dict):
        raise LiftRigError(f"{what}: its model settings are not a JSON object; the file is "
                           "damaged: convert or download it again.")
    arguments = inspect.signature(ARCHITECTURES[architecture]).parameters
    unknown = sorted(str(k) for k in config if k not in arguments or k not in CONFIG_LIMITS)
    if unknown:
        raise LiftRigError(f"{what}: unknown {architecture} settings {', '.join(unknown[:4])} "
                           "in its metadata; the file is damaged or from a newer LiftRig.")
    checked = {}
    for key, value in config.items():
        kind, limit = CONFIG_LIMITS[key]
        name = f"{what}: the model setting {key!r}"
        if kind != "counts":
            checked[key] = checked_number(value, name, kind, limit)
        elif value is not None:  # P-STMO's strides (None: the published ones)
            if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 16:
                raise LiftRigError(f"{name} must be a list of 1 to 16 whole numbers, "
                                   f"not {str(value)[:40]}")
            checked[key] = [checked_number(v, name, "count", limit) for v in value]
        else:
            checked[key] = None
    setting = lambda key: checked.get(key, arguments[key].default)  # noqa: E731
    heads = setting("num_heads")
    widths = [setting("dim")] + ([setting("dim") // 2] if architecture == "pstmo-pretrain" else [])
    for width in widths:
        if width % heads:
            raise LiftRigError(f"{what}: num_heads {heads} does not divide the width {width} of "
                               f"its attention layers; use a number of heads that divides "
                               f"{width} (convert-checkpoint --num-heads; the published models "
                               "use 8).")
    return checked


# --- Recognising a state dict ----------------------------------------------------------------

def _published_architecture(keys) -> str | None:
    if any(k.startswith("STEblocks.") for k in keys):
        return "mixste"
    if any(k.startswith("Transformer_dec.") or k == "encoder_to_decoder.weight" for k in keys):
        return "pstmo-pretrain"
    if any(k.startswith("Transformer_reduce.") for k in keys):
        return "pstmo"
    return None


def _our_architecture(keys) -> str | None:
    if any(k.startswith("spatial_blocks.") for k in keys):
        return "mixste"
    if any(k.startswith("decoder_layers.") or k == "to_decoder.weight" for k in keys):
        return "pstmo-pretrain"
    if any(k.startswith("aggregator_layers.") for k in keys):
        return "pstmo"
    return None


def _count(keys, prefix: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(found) + 1 if found else 0


def infer_config(architecture: str, state: dict, num_heads: int = DEFAULT_HEADS) -> dict:
    """Constructor arguments of ``architecture`` read off the shapes of our-layout ``state``."""
    from .models.pstmo import default_strides

    def shape(key):
        if key not in state:
            raise LiftRigError(f"the checkpoint lacks the parameter {key!r}: it is incomplete or "
                               "not a MixSTE/P-STMO model")
        return tuple(state[key].shape)

    if architecture == "mixste":
        dim, in_chans = shape("embed.weight")
        return {"num_frames": shape("temporal_pos")[1], "num_joints": shape("spatial_pos")[1],
                "in_chans": in_chans, "dim": dim, "depth": _count(state, "spatial_blocks."),
                "num_heads": num_heads,
                "mlp_ratio": shape("spatial_blocks.0.mlp.fc1.weight")[0] / dim}
    dim = shape("frame_encoder.fc_out.weight")[0]
    num_frames = shape("temporal_pos")[1]
    config = {"num_frames": num_frames, "dim": dim, "layers": _count(state, "temporal_layers."),
              "hidden": shape("temporal_layers.0.ffn.fc1.weight")[0], "num_heads": num_heads}
    in_features = shape("frame_encoder.fc_in.weight")[1]
    if architecture == "pstmo":
        num_joints = shape("head.proj.weight")[0] // 3
        count = _count(state, "aggregator_layers.")
        try:
            strides = default_strides(num_frames)
        except ValueError:
            strides = ()
        if len(strides) != count:
            raise LiftRigError(f"cannot tell the aggregator strides of a {num_frames}-frame P-STMO "
                               f"with {count} strided layers; convert it with a known window "
                               "length (9, 27, 81, 243 or 351 frames)")
        config["strides"] = list(strides)
    else:
        num_joints = shape("head.proj.weight")[0] // shape("joint_mask_token")[2]
    config["num_joints"] = num_joints
    config["in_chans"] = in_features // max(num_joints, 1)
    return config


# --- Loading -----------------------------------------------------------------------------------

def _numpy_globals() -> list:
    """numpy's array and scalar constructors: data only, needed by the published MixSTE files."""
    import numpy as np

    names = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return [np.core.multiarray._reconstruct, np.core.multiarray.scalar, np.ndarray, np.dtype,
            *names]


# torch's weights-only unpickler refuses a call in several wordings ("Unsupported global: GLOBAL
# io.open was not an allowed global", "unsupported GLOBAL posix.system whose module posix is
# blocked", "call reduce for unrecognized function ..."); these find it and what it would call.
_REFUSED_CALL = re.compile(r"unsupported global|blocked|\bGLOBAL\s|unrecognized function",
                           re.IGNORECASE)
_CALLED = re.compile(r"\bGLOBAL\s+([\w.]+)|unrecognized function\s+(\S+)", re.IGNORECASE)
# Lines of torch's message that are advice (among it: to load with weights_only=False, which
# would run the file's code), never passed on.
_TORCH_ADVICE = re.compile(r"weights.only|safe_globals|torch\.load|trust|documentation",
                           re.IGNORECASE)


def _refused_call(exc: Exception) -> str | None:
    """What a pickle would have called when torch's weights-only unpickler refused it ('a Python
    function' when unnamed); None when the refusal, if any, was for something else."""
    import pickle

    message = str(exc)
    if not (isinstance(exc, pickle.UnpicklingError) or re.search(r"weights.only", message, re.I)):
        return None
    if not _REFUSED_CALL.search(message):
        return None
    called = _CALLED.search(message)
    return (called.group(1) or called.group(2)).rstrip(".") if called else "a Python function"


def _detail(exc: Exception) -> str:
    """One line saying why a file did not load, without torch's advice."""
    message = str(exc).split("WeightsUnpickler error:")[-1]
    line = next((l.strip() for l in message.splitlines()  # noqa: E741
                 if l.strip() and not _TORCH_ADVICE.search(l)), "")
    line = line if len(line) <= 160 else line[:157] + "..."
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def load_pickle(path, map_location="cpu", fix: str | None = None):
    """``torch.load`` with ``weights_only=True`` (plus numpy's array constructors), every failure
    a one-line LiftRigError; ``fix`` replaces its closing advice. A file that would run code is
    refused as such: it is never worth loading with weights_only=False."""
    import torch

    path = Path(path)
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # refused calls, truncated zips, bad magic, EOF, ...
        called = _refused_call(exc)
        if called is not None:
            raise LiftRigError(
                f"{path} would run code when loaded (it calls {called}): LiftRig refuses it and "
                "only loads plain weights. "
                f"{fix or 'Get the checkpoint from its publisher.'}") from None
        raise LiftRigError(f"{path} is not a readable checkpoint ({_detail(exc)}); the file may "
                           "be truncated or corrupt: "
                           f"{fix or 'download or convert it again.'}") from None


def _state_dict_in(obj, path: Path) -> dict:
    """Find the state dict in a loaded pickle (MixSTE keeps it under ``model_pos``)."""
    import torch

    if isinstance(obj, dict):
        for key in ("model_pos", "state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not (isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise LiftRigError(f"{path} holds no state dict of tensors: it is not a MixSTE or P-STMO "
                           "checkpoint.")
    return obj


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:  # checks the header against the size
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise LiftRigError(f"{path} is not a readable .safetensors file ({_detail(exc)}); it may "
                           "be truncated: convert or download it again.") from None
    return state, metadata


def _check_metadata(metadata: dict, path: Path) -> tuple[dict | None, float | None]:
    """The model settings and training frame rate a LiftRig file records (None where absent),
    parsed and checked; the settings are checked against the architecture later."""
    config = fps = None
    if "config" in metadata:
        try:
            config = json.loads(metadata["config"])
        except (ValueError, RecursionError):
            config = None
        if not isinstance(config, dict):
            raise LiftRigError(f"{path}: its metadata 'config' is not a JSON object of model "
                               "settings; the file is damaged: convert or download it again.")
    if "fps" in metadata:
        try:
            fps = checked_number(metadata["fps"], "its metadata 'fps'", "positive", MAX_FPS)
        except LiftRigError as exc:
            raise LiftRigError(f"{path}: {exc} (the frame rate the weights were trained at); "
                               "the file is damaged: convert it again, passing --fps.") from None
    return config, fps


def _is_safetensors(path: Path) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON header starting with '{'."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") < 1 << 27


def _shapes_of(architecture: str, config: dict, what: str) -> dict:
    """Key -> shape of the parameters and buffers of the network ``config`` describes, without
    allocating it: its tensors are made on torch's meta device (small helpers made with other
    functions, such as MixSTE's drop-path rates, stay real)."""
    import torch
    from torch.overrides import TorchFunctionMode

    from .models import build_model

    factories = {torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn}

    class OnMeta(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if func in factories and kwargs.get("device") is None:
                kwargs["device"] = "meta"
            return func(*args, **kwargs)

    try:
        with OnMeta():
            model = build_model(architecture, config)
    except (TypeError, ValueError) as exc:
        raise LiftRigError(f"{what}: cannot build a {architecture} from {config} "
                           f"({exc}).") from None
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _listed(items: list) -> str:
    """The first four items, and how many more: a message stays one readable line."""
    more = f" and {len(items) - 4} more" if len(items) > 4 else ""
    return f"{', '.join(items[:4])}{more}"


def _check_shapes(expected: dict, shapes: dict, what: str, name_of=lambda key: key) -> None:
    """Raise a LiftRigError naming unknown, missing and mis-shaped keys (both dicts: key ->
    shape). ``name_of`` maps our key names to the ones the user's file uses, for the message."""
    unknown = sorted(name_of(k) for k in set(shapes) - set(expected))
    missing = sorted(name_of(k) for k in set(expected) - set(shapes))
    wrong = [f"{name_of(k)} {list(shapes[k])} (expected {list(expected[k])})"
             for k in expected if k in shapes and tuple(shapes[k]) != tuple(expected[k])]
    problems = []
    for label, items in (("unknown keys", unknown), ("missing keys", missing),
                         ("wrong shapes", wrong)):
        if items:
            problems.append(f"{label}: {_listed(items)}")
    if problems:
        raise LiftRigError(f"{what} does not match the model it describes ({'; '.join(problems)}). "
                           "The file is damaged or from a different model version.")


def _check_finite(state: dict, what: str, name_of=lambda key: key) -> None:
    """Raise a LiftRigError naming the tensors holding NaN or infinity: such weights would turn
    every pose into NaN without a word."""
    bad = sorted(name_of(k) for k, v in state.items()
                 if v.is_floating_point() and not bool(v.isfinite().all()))
    if bad:
        raise LiftRigError(f"{what} holds NaN or infinite weights ({_listed(bad)}): the training "
                           "that wrote it diverged or the file is damaged. Use another "
                           "checkpoint.")


def check_state_dict(model, state: dict, what: str, name_of=lambda key: key) -> None:
    """Raise a LiftRigError naming unknown, missing and mis-shaped keys, and non-finite values;
    else load strictly. ``name_of`` maps our key names to the ones the user's file uses."""
    _check_shapes({k: tuple(v.shape) for k, v in model.state_dict().items()},
                  {k: tuple(v.shape) for k, v in state.items()}, what, name_of)
    _check_finite(state, what, name_of)
    model.load_state_dict(state, strict=True)


def model_from_state_dict(state: dict, num_heads: int | None = None, config: dict | None = None,
                          architecture: str | None = None, what: str = "the checkpoint"):
    """Build the network a state dict (published or our layout) describes and load it strictly.

    Returns ``(model, architecture, config)``; the model is float32, on the CPU, in eval mode.
    """
    from .models import build_model

    prefix = "module." if all(k.startswith("module.") for k in state) else ""
    state = {k[len(prefix):]: v for k, v in state.items()}  # DataParallel's prefix, if any
    architecture = architecture or _our_architecture(state)
    name_of = lambda key: key  # noqa: E731
    if architecture is None:
        architecture = _published_architecture(state)
        if architecture is None:
            raise LiftRigError(f"{what} is not a MixSTE or P-STMO checkpoint (none of its "
                               f"{len(state)} keys, e.g. {next(iter(state), None)!r}, are known).")
        state, unknown = _rename(state, architecture, to_ours=True)
        if unknown:
            raise LiftRigError(f"{what} has unknown keys for a published {architecture} "
                               f"checkpoint: {', '.join(unknown[:4])}. The file is damaged or "
                               "from another model.")

        def name_of(key):  # report problems with the names the file uses
            return next(iter(_rename({key: None}, architecture, to_ours=False)[0]), key)
    if architecture not in NAME_TABLES:
        raise LiftRigError(f"{what}: unknown architecture {architecture!r} in its metadata.")
    if config is None:
        try:
            config = infer_config(architecture, state,
                                  DEFAULT_HEADS if num_heads is None else num_heads)
        except (IndexError, ValueError, ZeroDivisionError):  # a tensor of the wrong rank
            raise LiftRigError(f"{what}: the shapes of its tensors are not those of a "
                               f"{architecture} model; the file is damaged or from another "
                               "model.") from None
    elif num_heads is not None:
        config = {**config, "num_heads": num_heads}
    config = check_config(architecture, config, what)
    # Every key and shape against the network the settings describe, and every value finite,
    # before that network is built: a file cannot make LiftRig allocate more than it holds.
    expected = _shapes_of(architecture, config, what)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    for key in expected:  # files from before PyTorch 0.4.1 lack these
        if key.endswith("num_batches_tracked"):
            shapes.setdefault(key, expected[key])
    _check_shapes(expected, shapes, what, name_of)
    _check_finite(state, what, name_of)
    try:
        model = build_model(architecture, config)
    except (TypeError, ValueError) as exc:
        raise LiftRigError(f"{what}: cannot build a {architecture} from {config} ({exc}).") from None
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    model.load_state_dict(state, strict=True)
    return model.float().eval(), architecture, config


def read_checkpoint(path, num_heads: int | None = None):
    """Read any supported weights file. Returns ``(model, info)``: the float32 network on the CPU
    in eval mode, and a dict with ``architecture``, ``config``, ``fps``, ``format``, ``path``,
    ``joints`` and ``provenance`` (the file's other metadata: its licence, recipe, source)."""
    from .models import PUBLISHED_FPS

    path = Path(path)
    if not path.is_file():
        raise LiftRigError(f"Model weights not found: {path}. Pass an existing checkpoint "
                           "(.safetensors, or a published MixSTE/P-STMO .bin/.pth).")
    config = fps = None
    if _is_safetensors(path):
        state, metadata = _read_safetensors(path)
        fmt = "liftrig"
        config, fps = _check_metadata(metadata, path)
    else:
        state, metadata = _state_dict_in(load_pickle(path), path), {}
        fmt = "published" if _published_architecture(state) else "liftrig-pickle"
    model, architecture, config = model_from_state_dict(
        state, num_heads, config, metadata.get("architecture"), what=str(path))
    fps = PUBLISHED_FPS[architecture] if fps is None else fps
    provenance = {k: v for k, v in metadata.items() if k not in _DERIVED_METADATA}
    return model, {"architecture": architecture, "config": config, "fps": fps, "format": fmt,
                   "path": str(path), "joints": metadata.get("joints", JOINT_LAYOUT),
                   "provenance": provenance}


def save_safetensors(path, model, architecture: str, config: dict, fps: float,
                     **extra_metadata: str) -> None:
    """Write LiftRig's weights file (atomically): tensors with our names, the rest in metadata."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "architecture": architecture,
                "config": json.dumps(config), "fps": repr(float(fps)), "joints": JOINT_LAYOUT,
                **{k: str(v) for k, v in extra_metadata.items()}}
    data = save(tensors, metadata=metadata)
    with atomic_write(path) as f:
        f.write(data)


def convert_checkpoint(src, dst, fps: float | None = None, num_heads: int | None = None) -> dict:
    """Convert any supported weights file to LiftRig's ``.safetensors``; returns its info.

    The options are checked before anything is read; the source's own metadata (its licence
    above all) is carried over, so converting cannot strip a licence from weights.
    """
    dst = Path(dst)
    if dst.suffix != ".safetensors":
        raise LiftRigError(f"the converted file must end in .safetensors, not {dst.name!r}")
    if fps is not None:
        fps = checked_number(fps, "--fps", "positive", MAX_FPS)
    if num_heads is not None:
        num_heads = checked_number(num_heads, "--num-heads", "count", CONFIG_LIMITS["num_heads"][1])
    model, info = read_checkpoint(src, num_heads=num_heads)
    if fps is not None:
        info["fps"] = fps
    save_safetensors(dst, model, info["architecture"], info["config"], info["fps"],
                     **{**info["provenance"], "joints": info["joints"], "source": Path(src).name})
    return info
