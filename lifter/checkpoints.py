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
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import LiftRigError
from ..fileio import atomic_write

FORMAT = "liftrig-lifter"
FORMAT_VERSION = "1"
JOINT_LAYOUT = "h36m-17"
DEFAULT_HEADS = 8

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


def _read_pickle(path: Path):
    import pickle
    import torch

    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = str(exc).split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
        if "Unsupported global" in detail:  # a function or class the pickle would call
            called = re.search(r"GLOBAL (\S+)", detail)
            raise LiftRigError(
                f"{path} holds Python objects that could run code when loaded (it calls "
                f"{called.group(1) if called else 'a Python function'}); "
                "LiftRig only loads plain weights. Use the published checkpoint file itself, or "
                "re-save its state dict with torch.save(model.state_dict(), ...).") from None
        raise LiftRigError(f"{path} is not a readable checkpoint ({exc}); the file may be "
                           "truncated or corrupt: download it again.") from None
    except Exception as exc:  # truncated zip, bad magic, EOF, ...
        raise LiftRigError(f"{path} is not a readable checkpoint ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); the file "
                           "may be truncated or corrupt: download or convert it again.") from None


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
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise LiftRigError(f"{path} is not a readable .safetensors file ({exc}); it may be "
                           "truncated: convert or download it again.") from None
    return state, metadata


def _is_safetensors(path: Path) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON header starting with '{'."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") < 1 << 27


def check_state_dict(model, state: dict, what: str, name_of=lambda key: key) -> None:
    """Raise a LiftRigError naming unknown, missing and mis-shaped keys; else load strictly.

    ``name_of`` maps our key names to the ones the user's file uses, for the message.
    """
    expected = model.state_dict()
    unknown = sorted(name_of(k) for k in set(state) - set(expected))
    missing = sorted(name_of(k) for k in set(expected) - set(state))
    wrong = [f"{name_of(k)} {list(state[k].shape)} (expected {list(expected[k].shape)})"
             for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = []
    for label, items in (("unknown keys", unknown), ("missing keys", missing),
                         ("wrong shapes", wrong)):
        if items:
            more = f" and {len(items) - 4} more" if len(items) > 4 else ""
            problems.append(f"{label}: {', '.join(items[:4])}{more}")
    if problems:
        raise LiftRigError(f"{what} does not match the model it describes ({'; '.join(problems)}). "
                           "The file is damaged or from a different model version.")
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
        config = infer_config(architecture, state, num_heads or DEFAULT_HEADS)
    elif num_heads is not None:
        config = {**config, "num_heads": num_heads}
    try:
        model = build_model(architecture, config)
    except (TypeError, ValueError) as exc:
        raise LiftRigError(f"{what}: cannot build a {architecture} from {config} ({exc}).") from None
    for key, value in model.state_dict().items():  # files from before PyTorch 0.4.1 lack these
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    check_state_dict(model, state, what, name_of)
    return model.float().eval(), architecture, config


def read_checkpoint(path, num_heads: int | None = None):
    """Read any supported weights file. Returns ``(model, info)``: the float32 network on the CPU
    in eval mode, and a dict with ``architecture``, ``config``, ``fps``, ``format``, ``path``."""
    from .models import PUBLISHED_FPS

    path = Path(path)
    if not path.is_file():
        raise LiftRigError(f"Model weights not found: {path}. Pass an existing checkpoint "
                           "(.safetensors, or a published MixSTE/P-STMO .bin/.pth).")
    config = None
    if _is_safetensors(path):
        state, metadata = _read_safetensors(path)
        fmt = "liftrig"
        if "config" in metadata:
            try:
                config = json.loads(metadata["config"])
            except ValueError:
                raise LiftRigError(f"{path}: its metadata 'config' is not JSON.") from None
    else:
        state, metadata = _state_dict_in(_read_pickle(path), path), {}
        fmt = "published" if _published_architecture(state) else "liftrig-pickle"
    model, architecture, config = model_from_state_dict(
        state, num_heads, config, metadata.get("architecture"), what=str(path))
    fps = float(metadata.get("fps", PUBLISHED_FPS[architecture]))
    return model, {"architecture": architecture, "config": config, "fps": fps, "format": fmt,
                   "path": str(path), "joints": metadata.get("joints", JOINT_LAYOUT)}


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
    """Convert any supported weights file to LiftRig's ``.safetensors``; returns its info."""
    dst = Path(dst)
    if dst.suffix != ".safetensors":
        raise LiftRigError(f"the converted file must end in .safetensors, not {dst.name!r}")
    model, info = read_checkpoint(src, num_heads=num_heads)
    if fps is not None:
        if not fps > 0:
            raise LiftRigError(f"--fps must be positive, got {fps}")
        info["fps"] = float(fps)
    save_safetensors(dst, model, info["architecture"], info["config"], info["fps"],
                     source=Path(src).name)
    return info
