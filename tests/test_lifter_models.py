# SPDX-License-Identifier: GPL-3.0-or-later
"""The lifting networks: sizes, shapes, determinism, attention variants, packed CPU inference."""

import pytest
import torch

from liftrig.lifter.models import (MixSTE, PSTMO, PSTMOPretrain, attention_impl, build_model)
from liftrig.lifter.models.pstmo import default_strides
from liftrig.lifter.packing import PackedLinear, pack_linears, packing_available


def count(model):
    return sum(p.numel() for p in model.parameters())


def randomise(model, seed=0):
    """Non-trivial values everywhere (zero-initialised embeddings, unit norms, BN statistics)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.add_(0.1 * torch.randn(t.shape, generator=g))
                if name.endswith("running_var"):
                    t.abs_().add_(0.5)
    return model.eval()


def small_mixste():
    torch.manual_seed(0)
    return randomise(MixSTE(num_frames=27, dim=32, depth=2, num_heads=4))


def small_pstmo(frames=27):
    torch.manual_seed(0)
    return randomise(PSTMO(num_frames=frames, dim=32, hidden=64, layers=2))


def test_published_parameter_counts():
    assert count(MixSTE()) == 33_783_811  # d=512, 8 loops, T=243
    assert count(PSTMO()) == 6_482_278  # P-STMO-S, T=243
    assert count(PSTMO(layers=4)) == 7_009_382  # P-STMO
    assert count(MixSTE(num_frames=81)) == 33_783_811 - 162 * 512


def test_shapes_and_modes():
    x = torch.randn(2, 27, 17, 2)
    m = small_mixste()
    assert m(x).shape == (2, 27, 17, 3)
    p = small_pstmo()
    assert p(x).shape == (2, 1, 17, 3)
    p.train()
    centre, frames = p(x)
    assert centre.shape == (2, 1, 17, 3) and frames.shape == (2, 27, 17, 3)
    q = PSTMOPretrain(num_frames=27, dim=32, hidden=64, layers=3)
    mask = torch.arange(27) % 3 == 0
    assert q(x, mask, torch.rand(27, 17) < 0.1).shape == (2, 27, 17, 2)
    with pytest.raises(ValueError, match="expects"):
        m(torch.randn(1, 26, 17, 2))
    with pytest.raises(ValueError, match="expects"):
        p(torch.randn(1, 27, 16, 2))


def test_strides_and_configs():
    assert default_strides(243) == (3, 3, 3, 3, 3)
    assert default_strides(9) == (1, 3, 3)
    assert default_strides(729) == (3,) * 6
    with pytest.raises(ValueError):
        default_strides(100)
    with pytest.raises(ValueError, match="shrink"):
        PSTMO(num_frames=27, strides=(3, 3))
    assert isinstance(build_model("pstmo", {"num_frames": 81, "dim": 16, "hidden": 32,
                                            "layers": 1, "num_heads": 4}), PSTMO)
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("videopose", {})


def test_eval_is_deterministic_and_training_is_not():
    x = torch.randn(2, 27, 17, 2)
    m = small_mixste()
    with torch.no_grad():
        a, b = m(x), m(x)
    assert torch.equal(a, b)
    other = small_mixste()  # the same seed builds the same weights
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in m.state_dict().items())
    torch.manual_seed(5)
    assert not torch.equal(MixSTE(num_frames=27, dim=32, depth=2, num_heads=4).embed.weight,
                           m.embed.weight)
    m.train()  # drop path (0.1 at the last loop) makes training forwards differ
    with torch.no_grad():
        assert not torch.equal(m(x), m(x))


def test_explicit_attention_matches_sdpa():
    x = torch.randn(3, 27, 17, 2)
    for model in (small_mixste(), small_pstmo()):
        with torch.no_grad():
            fused = model(x)
            explicit = attention_impl(model, "explicit")(x)
            attention_impl(model, "sdpa")
        assert fused.abs().max() > 1e-2
        assert torch.allclose(fused, explicit, rtol=0, atol=2e-5)
    with pytest.raises(ValueError):
        attention_impl(small_mixste(), "flash")


def test_gradients_reach_every_used_parameter():
    x = torch.randn(2, 27, 17, 2)
    m = small_mixste().train()
    m(x).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
    p = small_pstmo().train()
    centre, frames = p(x)
    (centre.square().mean() + frames.square().mean()).backward()
    unused = {n for n, _ in p.named_parameters() if "final_norm" in n}  # as published: never applied
    assert unused
    for name, param in p.named_parameters():
        assert (param.grad is None) == (name in unused), name


@pytest.mark.skipif(not packing_available(torch.float32), reason="no oneDNN in this torch build")
def test_packed_linears_give_the_same_numbers():
    x = torch.randn(2, 27, 17, 2)
    for model in (small_mixste(), small_pstmo()):
        packed = pack_linears(model, torch.float32)
        assert not any(isinstance(m, torch.nn.Linear) for m in packed.modules())
        fused = [m for m in packed.modules() if isinstance(m, PackedLinear) and m.attr != "none"]
        assert fused  # the MLPs' activation went into their first layer
        assert any(isinstance(m, torch.nn.Linear) for m in model.modules())  # original untouched
        with torch.inference_mode():
            want, got = model(x), packed(x)
        assert torch.allclose(got, want, rtol=0, atol=1e-5), (got - want).abs().max()
        if packing_available(torch.bfloat16):
            half = pack_linears(model, torch.bfloat16)
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                low = half(x).float()
            rel = (low - want).square().mean().sqrt() / want.square().mean().sqrt()
            assert rel < 0.02


def test_transformer_norm_inference_and_training_paths_agree():
    """P-STMO's norm has a fused inference path; it must equal the autograd path exactly."""
    from liftrig.lifter.models.pstmo import TransformerNorm

    norm = TransformerNorm(16).double()
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(5, 7, 16, dtype=torch.float64)
    x[0, 0] = 3.0  # a constant row: std 0, the eps alone keeps it finite
    with torch.no_grad():
        fused = norm(x)
    plain = norm(x.requires_grad_())
    mu = x.mean(-1, keepdim=True)
    want = norm.weight * (x - mu) / (x.std(-1, keepdim=True) + 1e-6) + norm.bias
    assert torch.allclose(fused, want, rtol=0, atol=1e-10)
    assert torch.allclose(plain, want, rtol=0, atol=1e-10)
    assert torch.autograd.gradcheck(norm, (torch.randn(3, 16, dtype=torch.float64,
                                                        requires_grad=True),))
