# SPDX-License-Identifier: GPL-3.0-or-later
"""Loading weights: the published MixSTE / P-STMO layouts, our safetensors, and bad files.

The published layouts are generated here from their key names and shapes alone, and an
independent reference forward (explicit einsums and softmax, written from the papers' description
against those names) must agree with our modules to 1e-6 in float64 after a strict load.
Bad files (code in a pickle, damaged metadata, non-finite weights) and bad options are one line
naming the problem and the fix, exit 2, with nothing written and nothing large allocated.
"""

import json
import math
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from liftrig.cli import main
from liftrig.errors import LiftRigError
from liftrig.lifter import load_lifter
from liftrig.lifter.checkpoints import (convert_checkpoint, model_from_state_dict,
                                        read_checkpoint, to_published_state_dict)

# --- published layouts, from key names and shapes ------------------------------------------------


def mixste_published(dim=32, depth=2, frames=27, joints=17, hidden=64, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, base=0.0):
        return base + 0.2 * torch.randn(*shape, generator=g)

    sd = {"Spatial_patch_to_embedding.weight": r(dim, 2), "Spatial_patch_to_embedding.bias": r(dim),
          "Spatial_pos_embed": r(1, joints, dim), "Temporal_pos_embed": r(1, frames, dim)}
    for kind in ("STEblocks", "TTEblocks"):
        for i in range(depth):
            p = f"{kind}.{i}."
            sd.update({p + "norm1.weight": r(dim, base=1), p + "norm1.bias": r(dim),
                       p + "attn.qkv.weight": r(3 * dim, dim), p + "attn.qkv.bias": r(3 * dim),
                       p + "attn.proj.weight": r(dim, dim), p + "attn.proj.bias": r(dim),
                       p + "norm2.weight": r(dim, base=1), p + "norm2.bias": r(dim),
                       p + "mlp.fc1.weight": r(hidden, dim), p + "mlp.fc1.bias": r(hidden),
                       p + "mlp.fc2.weight": r(dim, hidden), p + "mlp.fc2.bias": r(dim)})
    for name in ("Spatial_norm", "Temporal_norm", "head.0"):
        sd[name + ".weight"], sd[name + ".bias"] = r(dim, base=1), r(dim)
    sd["head.1.weight"], sd["head.1.bias"] = r(3, dim), r(3)
    return sd


def _bn(sd, p, n, r):
    sd.update({p + "weight": r(n, base=1), p + "bias": r(n), p + "running_mean": r(n),
               p + "running_var": 0.5 + torch.rand(n), p + "num_batches_tracked": torch.tensor(7)})


def _layer(sd, p, dim, hidden, r, strided):
    for n in range(4):
        sd[f"{p}self_attn.linears.{n}.weight"] = r(dim, dim)
        sd[f"{p}self_attn.linears.{n}.bias"] = r(dim)
    if strided:
        sd[p + "feed_forward.w_1.weight"] = r(hidden, dim, 1)
        sd[p + "feed_forward.w_2.weight"] = r(dim, hidden, 3)
    else:
        sd[p + "feed_forward.w_1.weight"] = r(hidden, dim)
        sd[p + "feed_forward.w_2.weight"] = r(dim, hidden)
    sd[p + "feed_forward.w_1.bias"], sd[p + "feed_forward.w_2.bias"] = r(hidden), r(dim)
    for n in range(2):
        sd[f"{p}sublayer.{n}.norm.a_2"] = r(dim, base=1)
        sd[f"{p}sublayer.{n}.norm.b_2"] = r(dim)


def _encoder(sd, dim, hidden, layers, frames, joints, r):
    sd["encoder.fc_1.weight"], sd["encoder.fc_1.bias"] = r(2 * dim, 2 * joints, 1), r(2 * dim)
    _bn(sd, "encoder.bn_1.", 2 * dim, r)
    for w, bn in (("w1", "batch_norm1"), ("w2", "batch_norm2")):
        sd[f"encoder.layers.0.{w}.weight"] = r(2 * dim, 2 * dim, 1)
        sd[f"encoder.layers.0.{w}.bias"] = r(2 * dim)
        _bn(sd, f"encoder.layers.0.{bn}.", 2 * dim, r)
    sd["encoder.fc_2.weight"], sd["encoder.fc_2.bias"] = r(dim, 2 * dim, 1), r(dim)
    sd["Transformer.pos_embedding"] = r(1, frames, dim)
    for i in range(layers):
        _layer(sd, f"Transformer.model.layers.{i}.", dim, hidden, r, strided=False)
    sd["Transformer.model.norm.a_2"], sd["Transformer.model.norm.b_2"] = r(dim, base=1), r(dim)


def pstmo_published(dim=32, hidden=64, layers=2, frames=27, reduce_layers=3, joints=17, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, base=0.0):
        return base + 0.2 * torch.randn(*shape, generator=g)

    sd = {}
    _encoder(sd, dim, hidden, layers, frames, joints, r)
    for n in (1, 2, 3):
        sd[f"Transformer_reduce.model.pos_embedding_{n}"] = r(1, frames, dim)
    for i in range(reduce_layers):
        _layer(sd, f"Transformer_reduce.model.layers.{i}.", dim, hidden, r, strided=True)
    sd["Transformer_reduce.model.norm.a_2"] = r(dim, base=1)
    sd["Transformer_reduce.model.norm.b_2"] = r(dim)
    for head in ("fcn", "fcn_1"):
        _bn(sd, f"{head}.0.", dim, r)
        sd[f"{head}.1.weight"], sd[f"{head}.1.bias"] = r(3 * joints, dim, 1), r(3 * joints)
    return sd


def pstmo_pretrain_published(dim=32, hidden=64, layers=2, frames=27, joints=17, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, base=0.0):
        return base + 0.2 * torch.randn(*shape, generator=g)

    sd = {}
    _encoder(sd, dim, hidden, layers, frames, joints, r)
    dec = dim // 2
    sd["encoder_LN.a_2"], sd["encoder_LN.b_2"] = r(dim, base=1), r(dim)
    sd["encoder_to_decoder.weight"] = r(dec, dim)
    sd["dec_pos_embedding"], sd["mask_token"] = r(1, frames, dec), r(1, 1, dec)
    sd["spatial_mask_token"] = r(1, 1, 2)
    for i in range(layers - 1):
        _layer(sd, f"Transformer_dec.model.layers.{i}.", dec, hidden // 2, r, strided=False)
    sd["Transformer_dec.model.norm.a_2"] = r(dec, base=1)
    sd["Transformer_dec.model.norm.b_2"] = r(dec)
    _bn(sd, "fcn_dec.0.", dec, r)
    sd["fcn_dec.1.weight"], sd["fcn_dec.1.bias"] = r(2 * joints, dec, 1), r(2 * joints)
    return sd


# --- independent reference forwards (float64, explicit math) ---------------------------------------

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def transformer_norm(x, a, b):  # the original Transformer's: unbiased std, eps added to the std
    mu = x.mean(-1, keepdim=True)
    std = torch.sqrt(((x - mu) ** 2).sum(-1, keepdim=True) / (x.shape[-1] - 1))
    return a * (x - mu) / (std + 1e-6) + b


def linear(x, w, b=None):
    y = torch.einsum("...i,oi->...o", x, w.reshape(w.shape[0], -1))
    return y if b is None else y + b


def softmax_attention(q, k, v, heads):  # [B, N, C] each
    B, N, C = q.shape
    c = C // heads
    q, k, v = (t.reshape(B, N, heads, c) for t in (q, k, v))
    s = torch.einsum("bnhc,bmhc->bhnm", q, k) / math.sqrt(c)
    a = torch.exp(s - s.amax(-1, keepdim=True))
    a = a / a.sum(-1, keepdim=True)
    return torch.einsum("bhnm,bmhc->bnhc", a, v).reshape(B, N, C)


def mixste_block(x, sd, p, heads):
    C = x.shape[-1]
    h = layer_norm(x, sd[p + "norm1.weight"], sd[p + "norm1.bias"], 1e-6)
    qkv = linear(h, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"])
    o = softmax_attention(qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:], heads)
    x = x + linear(o, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
    h = layer_norm(x, sd[p + "norm2.weight"], sd[p + "norm2.bias"], 1e-6)
    h = linear(h, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])
    h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
    return x + linear(h, sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])


def mixste_reference(sd, x, heads):
    B, T, J, _ = x.shape
    depth = len({k.split(".")[1] for k in sd if k.startswith("STEblocks.")})
    t = linear(x, sd["Spatial_patch_to_embedding.weight"], sd["Spatial_patch_to_embedding.bias"])
    t = t + sd["Spatial_pos_embed"]
    C = t.shape[-1]
    for i in range(depth):
        t = mixste_block(t.reshape(B * T, J, C), sd, f"STEblocks.{i}.", heads)
        t = layer_norm(t, sd["Spatial_norm.weight"], sd["Spatial_norm.bias"], 1e-6)
        t = t.reshape(B, T, J, C).permute(0, 2, 1, 3).reshape(B * J, T, C)
        if i == 0:
            t = t + sd["Temporal_pos_embed"]
        t = mixste_block(t, sd, f"TTEblocks.{i}.", heads)
        t = layer_norm(t, sd["Temporal_norm.weight"], sd["Temporal_norm.bias"], 1e-6)
        t = t.reshape(B, J, T, C).permute(0, 2, 1, 3)
    t = layer_norm(t, sd["head.0.weight"], sd["head.0.bias"], 1e-5)
    return linear(t, sd["head.1.weight"], sd["head.1.bias"])


def batch_norm(x, sd, p):
    return (x - sd[p + "running_mean"]) / torch.sqrt(sd[p + "running_var"] + 1e-5) \
        * sd[p + "weight"] + sd[p + "bias"]


def leaky(x):
    return torch.where(x > 0, x, 0.2 * x)


def pstmo_layer(x, sd, p, heads, stride=None):
    n = lambda t, i: transformer_norm(t, sd[f"{p}sublayer.{i}.norm.a_2"],  # noqa: E731
                                      sd[f"{p}sublayer.{i}.norm.b_2"])
    lin = lambda t, i: linear(t, sd[f"{p}self_attn.linears.{i}.weight"],  # noqa: E731
                              sd[f"{p}self_attn.linears.{i}.bias"])
    h = n(x, 0)
    x = x + lin(softmax_attention(lin(h, 0), lin(h, 1), lin(h, 2), heads), 3)
    h = torch.relu(linear(n(x, 1), sd[p + "feed_forward.w_1.weight"], sd[p + "feed_forward.w_1.bias"]))
    w2, b2 = sd[p + "feed_forward.w_2.weight"], sd[p + "feed_forward.w_2.bias"]
    if stride is None:
        return x + linear(h, w2, b2)
    # kernel-3 convolution, padding 1, stride s, written out; the skip keeps every s-th frame
    hp = torch.nn.functional.pad(h, (0, 0, 1, 1))
    steps = range(0, x.shape[1], stride)
    y = torch.stack([sum(linear(hp[:, t + k], w2[:, :, k]) for k in range(3)) for t in steps], 1)
    return x[:, ::stride] + y + b2


def pstmo_encoder(sd, x, heads, layers):
    B, T = x.shape[:2]
    h = linear(x.reshape(B, T, -1), sd["encoder.fc_1.weight"], sd["encoder.fc_1.bias"])
    h = leaky(batch_norm(h, sd, "encoder.bn_1."))
    y = leaky(batch_norm(linear(h, sd["encoder.layers.0.w1.weight"], sd["encoder.layers.0.w1.bias"]),
                         sd, "encoder.layers.0.batch_norm1."))
    y = leaky(batch_norm(linear(y, sd["encoder.layers.0.w2.weight"], sd["encoder.layers.0.w2.bias"]),
                         sd, "encoder.layers.0.batch_norm2."))
    return linear(h + y, sd["encoder.fc_2.weight"], sd["encoder.fc_2.bias"])


def pstmo_reference(sd, x, heads, strides):
    layers = len({k.split(".")[3] for k in sd if k.startswith("Transformer.model.layers.")})
    h = pstmo_encoder(sd, x, heads, layers) + sd["Transformer.pos_embedding"]
    for i in range(layers):
        h = pstmo_layer(h, sd, f"Transformer.model.layers.{i}.", heads)
    for i, s in enumerate(strides):
        if i < 3:
            h = h + sd[f"Transformer_reduce.model.pos_embedding_{i + 1}"][:, :h.shape[1]]
        h = pstmo_layer(h, sd, f"Transformer_reduce.model.layers.{i}.", heads, stride=s)
    out = linear(batch_norm(h, sd, "fcn.0."), sd["fcn.1.weight"], sd["fcn.1.bias"])
    return out.reshape(x.shape[0], 1, -1, 3)


def pstmo_pretrain_reference(sd, x, frame_mask, joint_mask, heads):
    """Returns (visible frames then hidden frames), the published output order."""
    layers = len({k.split(".")[3] for k in sd if k.startswith("Transformer.model.layers.")})
    x = x.clone()
    x[:, joint_mask] = sd["spatial_mask_token"].reshape(1, 1, 2)
    h = pstmo_encoder(sd, x, heads, layers) + sd["Transformer.pos_embedding"]
    h = h[:, ~frame_mask]
    for i in range(layers):
        h = pstmo_layer(h, sd, f"Transformer.model.layers.{i}.", heads)
    h = linear(transformer_norm(h, sd["encoder_LN.a_2"], sd["encoder_LN.b_2"]),
               sd["encoder_to_decoder.weight"])
    pos = sd["dec_pos_embedding"]
    h = torch.cat([h + pos[:, ~frame_mask], (sd["mask_token"] + pos[:, frame_mask]).expand(
        len(x), -1, -1)], dim=1)
    for i in range(layers - 1):
        h = pstmo_layer(h, sd, f"Transformer_dec.model.layers.{i}.", heads)
    out = linear(batch_norm(h, sd, "fcn_dec.0."), sd["fcn_dec.1.weight"], sd["fcn_dec.1.bias"])
    return out.reshape(len(x), out.shape[1], -1, 2)


def f64(sd):
    return {k: v.double() if v.is_floating_point() else v for k, v in sd.items()}


# --- files -------------------------------------------------------------------------------------


def save_mixste_file(path, sd):
    """The published MixSTE container: the state dict under model_pos, DataParallel prefix,
    plus training state including numpy's random state."""
    torch.save({"epoch": 80, "lr": 1e-5, "random_state": np.random.RandomState(1).get_state(),
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-5, "params": [0, 1]}]},
                "model_pos": {"module." + k: v for k, v in sd.items()}}, path)


def save_pstmo_file(path, sd):
    torch.save({"module." + k: v for k, v in sd.items()}, path)


# --- tests -------------------------------------------------------------------------------------

def test_published_mixste_matches_reference(tmp_path):
    sd = mixste_published(dim=32, depth=2, frames=27, hidden=64)
    save_mixste_file(tmp_path / "mixste.bin", sd)
    lifter = load_lifter(tmp_path / "mixste.bin", device="cpu")
    assert lifter.architecture == "mixste" and lifter.num_frames == 27 and lifter.fps == 50
    assert lifter.info["config"]["depth"] == 2 and lifter.info["config"]["mlp_ratio"] == 2.0
    x = torch.randn(2, 27, 17, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = lifter.model.double()(x)
    want = mixste_reference(f64(sd), x, heads=8)
    assert want.abs().max() > 0.1  # a real signal, not zeros
    assert torch.allclose(ours, want, rtol=0, atol=1e-6), (ours - want).abs().max()


@pytest.mark.parametrize("frames,strides", [(27, (3, 3, 3)), (9, (1, 3, 3))])
def test_published_pstmo_matches_reference(tmp_path, frames, strides):
    sd = pstmo_published(dim=32, hidden=64, layers=2, frames=frames, reduce_layers=len(strides))
    save_pstmo_file(tmp_path / "pstmo.pth", sd)
    lifter = load_lifter(tmp_path / "pstmo.pth", device="cpu")
    assert lifter.architecture == "pstmo" and lifter.fps == 25
    assert tuple(lifter.info["config"]["strides"]) == strides
    x = torch.randn(3, frames, 17, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = lifter.model.double()(x)
    want = pstmo_reference(f64(sd), x, heads=8, strides=strides)
    assert ours.shape == (3, 1, 17, 3) and want.abs().max() > 0.1
    assert torch.allclose(ours, want, rtol=0, atol=1e-6), (ours - want).abs().max()


def test_published_pstmo_pretrain_matches_reference():
    sd = pstmo_pretrain_published(dim=32, hidden=64, layers=3, frames=27)
    model, arch, config = model_from_state_dict({"module." + k: v for k, v in sd.items()})
    assert arch == "pstmo-pretrain" and config["layers"] == 3
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 27, 17, 2, dtype=torch.float64, generator=g)
    frame_mask = torch.rand(27, generator=g) < 0.6
    joint_mask = torch.rand(27, 17, generator=g) < 0.1
    with torch.no_grad():
        ours = model.double()(x, frame_mask, joint_mask)
    want = pstmo_pretrain_reference(f64(sd), x, frame_mask, joint_mask, heads=8)
    order = torch.cat([torch.nonzero(~frame_mask)[:, 0], torch.nonzero(frame_mask)[:, 0]])
    assert torch.allclose(ours[:, order], want, rtol=0, atol=1e-6), (ours[:, order] - want).abs().max()


def test_published_sizes_load_strictly_with_the_published_parameter_counts():
    """The full published configurations, from their key lists: counts, inferred config, layout."""
    for sd, arch, count in ((mixste_published(512, 8, 243, 17, 1024), "mixste", 33_783_811),
                            (pstmo_published(256, 512, 3, 243, 5), "pstmo", 6_482_278),
                            (pstmo_published(256, 512, 4, 243, 5), "pstmo", 7_009_382)):
        params = sum(v.numel() for k, v in sd.items() if not k.endswith(("running_mean",
                     "running_var", "num_batches_tracked")))
        assert params == count
        model, got_arch, config = model_from_state_dict(sd)
        assert got_arch == arch and config["num_frames"] == 243
        assert sum(p.numel() for p in model.parameters()) == count
        # our layout maps back onto exactly the published keys and values
        back = to_published_state_dict(model.state_dict(), arch)
        assert back.keys() == sd.keys()
        assert all(torch.equal(back[k], sd[k]) for k in sd)


def test_safetensors_round_trip_via_cli(tmp_path, capsys):
    sd = pstmo_published()
    save_pstmo_file(tmp_path / "p.pth", sd)
    out = tmp_path / "p.safetensors"
    assert main(["convert-checkpoint", str(tmp_path / "p.pth"), str(out), "--fps", "30"]) == 0
    assert "pstmo" in capsys.readouterr().out
    a = load_lifter(tmp_path / "p.pth", device="cpu")
    b = load_lifter(out, device="cpu")
    assert b.info["format"] == "liftrig" and b.fps == 30.0 and a.fps == 25.0
    assert b.info["config"] == a.info["config"]
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    x = torch.randn(2, 27, 17, 2)
    with torch.no_grad():
        assert torch.equal(a.model(x), b.model(x))
    # MixSTE through the same path
    save_mixste_file(tmp_path / "m.bin", mixste_published())
    assert main(["convert-checkpoint", str(tmp_path / "m.bin"), str(tmp_path / "m.safetensors")]) == 0
    m = load_lifter(tmp_path / "m.safetensors", device="cpu")
    assert m.architecture == "mixste" and m.fps == 50.0


def test_convert_refuses_other_suffix(tmp_path, capsys):
    save_pstmo_file(tmp_path / "p.pth", pstmo_published())
    assert main(["convert-checkpoint", str(tmp_path / "p.pth"), str(tmp_path / "p.pt")]) == 2
    assert ".safetensors" in capsys.readouterr().err
    assert not (tmp_path / "p.pt").exists()


def _error(path) -> str:
    with pytest.raises(LiftRigError) as info:
        load_lifter(path, device="cpu")
    return str(info.value)


def test_unknown_missing_and_misshaped_keys_are_named(tmp_path):
    sd = mixste_published()
    save_mixste_file(tmp_path / "extra.bin", {**sd, "STEblocks.0.attn.gate.weight": torch.ones(3)})
    assert "unknown keys: STEblocks.0.attn.gate.weight" in _error(tmp_path / "extra.bin")

    save_mixste_file(tmp_path / "extra2.bin", {**sd, "Spatial_extra": torch.ones(3)})
    assert "unknown keys" in _error(tmp_path / "extra2.bin")

    missing = dict(sd)
    del missing["TTEblocks.1.mlp.fc2.bias"]
    msg = _error_save(tmp_path / "missing.bin", missing)
    assert "missing keys: TTEblocks.1.mlp.fc2.bias" in msg

    wrong = dict(sd)
    wrong["STEblocks.1.attn.proj.weight"] = torch.zeros(32, 31)
    msg = _error_save(tmp_path / "wrong.bin", wrong)
    assert "wrong shapes: STEblocks.1.attn.proj.weight [32, 31]" in msg

    psd = pstmo_published()
    psd["Transformer_reduce.model.layers.2.feed_forward.w_2.weight"] = torch.zeros(32, 64, 5)
    save_pstmo_file(tmp_path / "p.pth", psd)
    assert "Transformer_reduce.model.layers.2.feed_forward.w_2.weight" in _error(tmp_path / "p.pth")


def _error_save(path, sd) -> str:
    save_mixste_file(path, sd)
    return _error(path)


def test_truncated_and_foreign_files(tmp_path):
    save_mixste_file(tmp_path / "m.bin", mixste_published())
    data = (tmp_path / "m.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt" in _error(tmp_path / "cut.bin")

    save_pstmo_file(tmp_path / "p.pth", pstmo_published())
    assert main(["convert-checkpoint", str(tmp_path / "p.pth"), str(tmp_path / "p.safetensors")]) == 0
    data = (tmp_path / "p.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) - 1000])
    assert "truncated" in _error(tmp_path / "cut.safetensors")

    (tmp_path / "noise.pth").write_bytes(np.random.default_rng(0).bytes(5000))
    assert "not a readable checkpoint" in _error(tmp_path / "noise.pth")

    torch.save(torch.nn.Linear(3, 4).state_dict(), tmp_path / "linear.pth")
    assert "not a MixSTE or P-STMO checkpoint" in _error(tmp_path / "linear.pth")

    assert "not found" in _error(tmp_path / "absent.pth")


class _RunsCode:
    """Unpickling this would call open(marker, 'w'): a stand-in for any code a pickle can run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_pickle_that_would_run_code_is_refused(tmp_path, writer):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    payload = {"model_pos": {"module.Spatial_pos_embed": torch.zeros(1)}, "x": _RunsCode(marker)}
    if writer == "torch":
        torch.save(payload, path)
    else:  # a classic pickle, no torch container
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=2)
    msg = _error(path)
    # (a tensor in a plain pickle is itself rebuilt by a call the loader refuses)
    assert "would run code when loaded (it calls " in msg and "weights_only" not in msg
    assert writer == "pickle" or "io.open" in msg
    assert not marker.exists()
    # newer pickle protocols are refused as unreadable before anything is called
    with open(path, "wb") as f:
        pickle.dump(payload, f, protocol=4)
    with pytest.warns(UserWarning, match="protocol"):
        assert "not a readable checkpoint" in _error(path)
    assert not marker.exists()


def test_stage_one_checkpoint_is_not_a_lifter(tmp_path):
    save_pstmo_file(tmp_path / "mae.pth", pstmo_pretrain_published())
    model, info = read_checkpoint(tmp_path / "mae.pth")
    assert info["architecture"] == "pstmo-pretrain"
    assert "stage-I" in _error(tmp_path / "mae.pth")


def test_default_model_place(tmp_path, monkeypatch):
    """load_lifter() with no path reads lifter/weights/default.safetensors; absent, it says what
    to do. (Pointed at temporary files, whether or not a default model is installed.)"""
    from pathlib import Path

    from liftrig.lifter import inference

    assert inference.DEFAULT_WEIGHTS == Path(inference.__file__).parent / "weights" / \
        "default.safetensors"
    monkeypatch.setattr(inference, "DEFAULT_WEIGHTS", tmp_path / "default.safetensors")
    with pytest.raises(LiftRigError, match="no default lifting model is installed.*--weights"):
        load_lifter(device="cpu")
    save_pstmo_file(tmp_path / "p.pth", pstmo_published())
    assert main(["convert-checkpoint", str(tmp_path / "p.pth"),
                 str(tmp_path / "default.safetensors")]) == 0
    assert load_lifter(device="cpu").architecture == "pstmo"


# --- bad input: one line naming the problem and the fix, exit 2, nothing written -----------------

def _cli(*args):
    """``python -m liftrig ARGS`` in a fresh process: (exit code, the non-empty stderr lines)."""
    run = subprocess.run([sys.executable, "-m", "liftrig", *map(str, args)], capture_output=True,
                         text=True, timeout=600)
    return run.returncode, [line for line in run.stderr.splitlines() if line.strip()]


class _System:
    """A real attack: unpickling this would run a shell command that writes ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


SYSTEM = f"{os.system.__module__}.system"  # posix.system on Linux and macOS, nt.system on Windows


def test_pickle_calling_os_system_is_refused_on_the_command_line(tmp_path):
    marker, path, out = tmp_path / "pwned", tmp_path / "evil.pth", tmp_path / "out.safetensors"
    torch.save({"model_pos": {"module." + k: v for k, v in mixste_published().items()},
                "x": _System(marker)}, path)
    code, lines = _cli("convert-checkpoint", path, out)
    assert code == 2 and len(lines) == 1, lines
    assert f"would run code when loaded (it calls {SYSTEM})" in lines[0]
    assert "LiftRig refuses it" in lines[0] and "from its publisher" in lines[0]
    assert "weights_only" not in lines[0] and "Traceback" not in lines[0]
    assert not marker.exists() and not out.exists()
    assert f"(it calls {SYSTEM})" in _error(path)  # the library says the same
    assert not marker.exists()


@pytest.mark.parametrize("message,called", [
    ("Weights only load failed.\n\nTrying to load unsupported GLOBAL posix.system whose module "
     "posix is blocked.\n\nCheck the documentation of torch.load (weights_only)", "posix.system"),
    ("Weights only load failed. WeightsUnpickler error: Unsupported global: GLOBAL io.open was "
     "not an allowed global by default.", "io.open"),
    ("weights only load failed: unsupported global: global builtins.exec was not allowed",
     "builtins.exec"),
    ("Trying to call reduce for unrecognized function <built-in function system>", "<built-in"),
    ("module subprocess is blocked", "a Python function"),
    ("Unsupported operand 149", None),
    ("pickle data was truncated", None),
])
def test_every_wording_of_a_refused_call_is_recognised(message, called):
    from liftrig.lifter.checkpoints import _detail, _refused_call

    assert _refused_call(pickle.UnpicklingError(message)) == called
    assert "weights_only" not in _detail(pickle.UnpicklingError(message)).lower()
    assert _refused_call(RuntimeError(message)) is None or "weights" in message.lower()


def test_resume_from_a_checkpoint_that_would_run_code_is_one_line(tmp_path, capsys):
    from training_helpers import mixste_recipe, write_recipe

    run, marker = tmp_path / "run", tmp_path / "pwned"
    run.mkdir()
    recipe = write_recipe(tmp_path / "r.toml", mixste_recipe(tmp_path / "no-data", run))
    torch.save({"recipe": "tiny_mixste", "epoch": 1, "rng": _System(marker)}, run / "checkpoint.pt")
    before = sorted(p.name for p in run.iterdir())
    code, lines = _cli("train", recipe, "--resume", "--no-progress")
    assert code == 2 and len(lines) == 1, lines
    assert f"would run code when loaded (it calls {SYSTEM})" in lines[0]
    assert "weights_only" not in lines[0] and "fresh folder" in lines[0]
    assert not marker.exists() and sorted(p.name for p in run.iterdir()) == before

    torch.save({"recipe": "tiny_mixste", "epoch": 1}, run / "checkpoint.pt")  # not ours
    assert main(["train", str(recipe), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not a LiftRig training checkpoint (it lacks model, optimizer" in err
    assert "\n" not in err


def _retouched(tmp_path, name, metadata=None, tensors=None, base="mixste"):
    """A LiftRig .safetensors converted from a small published model, then with some metadata
    entries replaced (None: removed) and tensors changed by ``tensors(state)``."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    src = tmp_path / f"{base}.safetensors"
    if not src.exists():
        if base == "mixste":
            save_mixste_file(tmp_path / "m.bin", mixste_published())
        else:
            save_pstmo_file(tmp_path / "m.bin", pstmo_published())
        assert main(["convert-checkpoint", str(tmp_path / "m.bin"), str(src)]) == 0
    with safe_open(str(src), framework="pt") as f:
        meta, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    for key, value in (metadata or {}).items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value if isinstance(value, str) else json.dumps(value)
    if tensors:
        tensors(state)
    save_file(state, str(tmp_path / name), metadata=meta)
    return tmp_path / name


def _config(**changes):
    base = {"num_frames": 27, "num_joints": 17, "in_chans": 2, "dim": 32, "depth": 2,
            "num_heads": 8, "mlp_ratio": 2.0}
    return {"config": {**base, **changes}}


@pytest.mark.parametrize("metadata,expected", [
    ({"fps": "abc"}, "its metadata 'fps' must be a finite number above 0"),
    ({"fps": "nan"}, "'fps' must be a finite number"),
    ({"fps": "inf"}, "'fps' must be a finite number"),
    ({"fps": "0"}, "'fps' must be a finite number above 0"),
    ({"fps": "-30"}, "'fps' must be a finite number above 0"),
    ({"config": "{not json"}, "'config' is not a JSON object"),
    ({"config": "[1, 2]"}, "'config' is not a JSON object"),
    ({"config": "[" * 100_000}, "'config' is not a JSON object"),
    ({"architecture": "resnet"}, "unknown architecture 'resnet'"),
    (_config(dim="abc"), "'dim' must be a whole number"),
    (_config(dim=32.5), "'dim' must be a whole number"),
    (_config(dim=True), "'dim' must be a whole number"),
    (_config(depth=10 ** 9), "'depth' must be a whole number of at least 1 and at most 128"),
    (_config(num_frames=0), "'num_frames' must be a whole number of at least 1"),
    (_config(num_heads=0), "'num_heads' must be a whole number of at least 1"),
    (_config(num_heads=3), "num_heads 3 does not divide the width 32"),
    (_config(mlp_ratio=float("nan")), "'mlp_ratio' must be a finite number above 0"),
    (_config(drop_path=1.5), "'drop_path' must be a number from 0 up to"),
    (_config(gate=1), "unknown mixste settings gate"),
    # sizes that agree with no tensor of the file: refused before any network is built
    (_config(dim=2048, depth=8), "embed.weight [32, 2] (expected [2048, 2])"),
    (_config(num_frames=4096), "wrong shapes: temporal_pos [1, 27, 32] (expected [1, 4096, 32])"),
    (_config(depth=3), "missing keys: spatial_blocks.2."),
])
def test_bad_safetensors_metadata_is_refused_before_building(tmp_path, monkeypatch, metadata,
                                                              expected):
    from liftrig.lifter import models

    built = []

    def spy(architecture, config):  # every network built, and on which device
        model = real_build(architecture, config)
        built.append(next(model.parameters()).device.type)
        return model

    path = _retouched(tmp_path, "bad.safetensors", metadata)
    real_build = models.build_model
    monkeypatch.setattr(models, "build_model", spy)
    msg = _error(path)
    assert expected in msg and "\n" not in msg
    assert set(built) <= {"meta"}  # checked on shapes alone: nothing real was allocated


def test_pstmo_metadata_is_checked_too(tmp_path):
    bad = _retouched(tmp_path, "p.safetensors", {"config": {"num_frames": 27, "dim": 32,
                     "hidden": 64, "layers": 2, "strides": [3, 3, 3], "num_heads": 8,
                     "num_joints": 17, "in_chans": 2, "dropout": float("inf")}}, base="pstmo")
    assert "'dropout' must be a number from 0 up to" in _error(bad)
    bad = _retouched(tmp_path, "p2.safetensors", {"config": {"num_frames": 27, "dim": 32,
                     "hidden": 64, "layers": 2, "strides": "333"}}, base="pstmo")
    assert "'strides' must be a list" in _error(bad)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused_at_load_time(tmp_path, value):
    def spoil(state):
        state["spatial_blocks.1.attn.proj.weight"][3, 4] = value

    msg = _error(_retouched(tmp_path, "nan.safetensors", tensors=spoil))
    assert "NaN or infinite weights (spatial_blocks.1.attn.proj.weight)" in msg
    # a published checkpoint is named in the file's own terms
    sd = mixste_published()
    sd["TTEblocks.0.mlp.fc1.bias"][:] = value
    assert "(TTEblocks.0.mlp.fc1.bias)" in _error_save(tmp_path / "nan.bin", sd)


def test_all_nan_weights_on_the_command_line(tmp_path):
    def spoil(state):
        for tensor in state.values():
            if tensor.is_floating_point():
                tensor.fill_(float("nan"))

    bad = _retouched(tmp_path, "all-nan.safetensors", tensors=spoil)
    out = tmp_path / "o.safetensors"
    code, lines = _cli("convert-checkpoint", bad, out)
    assert code == 2 and len(lines) == 1, lines
    assert "NaN or infinite weights" in lines[0] and "and " in lines[0] and "more" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("option,value,expected", [
    ("--fps", "inf", "argument --fps: inf is out of range"),
    ("--fps", "nan", "argument --fps: nan is out of range"),
    ("--fps", "0", "argument --fps: 0 is out of range"),
    ("--num-heads", "0", "argument --num-heads: 0 is out of range"),
])
def test_convert_refuses_bad_options_at_the_command_line(tmp_path, option, value, expected):
    save_pstmo_file(tmp_path / "p.pth", pstmo_published())
    out = tmp_path / "p.safetensors"
    code, lines = _cli("convert-checkpoint", tmp_path / "p.pth", out, option, value)
    assert code == 2 and len(lines) == 1 and expected in lines[0], lines
    assert not out.exists()


def test_convert_refuses_heads_that_do_not_divide_the_width(tmp_path, capsys):
    save_pstmo_file(tmp_path / "p.pth", pstmo_published(dim=32))
    out = tmp_path / "p.safetensors"
    assert main(["convert-checkpoint", str(tmp_path / "p.pth"), str(out), "--num-heads", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "num_heads 3 does not divide the width 32" in err and "\n" not in err
    assert not out.exists()
    for fps, heads in ((float("inf"), None), (0.0, None), (None, 0), (None, True)):
        with pytest.raises(LiftRigError, match="must be"):  # the library checks them too
            convert_checkpoint(tmp_path / "p.pth", out, fps=fps, num_heads=heads)
    assert not out.exists()


def test_converting_the_default_weights_keeps_their_licence(tmp_path):
    from safetensors import safe_open

    from liftrig.lifter.inference import DEFAULT_WEIGHTS

    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip("no default model installed")
    out = tmp_path / "copy.safetensors"
    assert main(["convert-checkpoint", str(DEFAULT_WEIGHTS), str(out), "--fps", "25"]) == 0
    with safe_open(str(DEFAULT_WEIGHTS), framework="pt") as f:
        before = f.metadata()
    with safe_open(str(out), framework="pt") as f:
        after = f.metadata()
    assert before["license"] and after["license"] == before["license"]
    assert after["license_note"] == before["license_note"]
    assert after["joints"] == before["joints"] and after["fps"] == "25.0"
    assert after["source"] == DEFAULT_WEIGHTS.name
    assert load_lifter(out, device="cpu").info["provenance"]["license"] == before["license"]
