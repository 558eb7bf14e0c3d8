# SPDX-License-Identifier: GPL-3.0-or-later
"""Whole-clip lifting: any length, windows and their seams, flip symmetry, frame rates,
undetected frames, bounded memory, precision, the Python API and the ``liftrig lift`` command."""

import numpy as np
import pytest
import torch

from liftrig.cli import main
from liftrig.errors import Cancelled, LiftRigError
from liftrig.formats import Joints3D, Keypoints2D
from liftrig.h36m import FLIP_PERMUTATION
from liftrig.lifter import load_lifter
from liftrig.lifter.checkpoints import save_safetensors
from liftrig.h36m import normalize_screen
from liftrig.lifter.inference import (Lifter, cpu_has_fast_bf16, resample,
                                      resolve_precision, window_starts)
from liftrig.lifter.models import MixSTE, PSTMO

SIZE = (640, 480)
T = 27


def _randomise(model, seed, skip=()):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point() and name not in skip:
                t.add_(0.1 * torch.randn(t.shape, generator=g))
                if name.endswith("running_var"):
                    t.abs_().add_(0.5)
    return model.eval()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Small MixSTE (50 fps) and P-STMO (25 fps) weight files, T = 27."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    mixste = _randomise(MixSTE(num_frames=T, dim=32, depth=2, num_heads=4), 1)
    save_safetensors(folder / "mixste.safetensors", mixste, "mixste",
                     {"num_frames": T, "dim": 32, "depth": 2, "num_heads": 4}, fps=50)
    pstmo = _randomise(PSTMO(num_frames=T, dim=32, hidden=64, layers=2), 2)
    save_safetensors(folder / "pstmo.safetensors", pstmo, "pstmo",
                     {"num_frames": T, "dim": 32, "hidden": 64, "layers": 2, "num_heads": 4},
                     fps=25)
    return {"mixste": folder / "mixste.safetensors", "pstmo": folder / "pstmo.safetensors"}


@pytest.fixture(scope="module", params=["mixste", "pstmo"])
def lifter(request, weights):
    return load_lifter(weights[request.param], device="cpu", precision="fp32")


def walking(frames, fps=30.0, seed=0):
    """A smooth synthetic 2D clip in pixels: a stick figure swinging and drifting."""
    rng = np.random.default_rng(seed)
    base = np.array([[320, 300], [300, 300], [300, 370], [300, 440], [340, 300], [340, 370],
                     [340, 440], [320, 250], [320, 200], [320, 180], [320, 150], [350, 205],
                     [370, 250], [380, 290], [290, 205], [270, 250], [260, 290]], float)
    t = np.arange(frames)[:, None, None] / fps
    phase = rng.uniform(0, 2 * np.pi, (1, 17, 2))
    swing = 12 * np.sin(2 * np.pi * 0.8 * t + phase) + 5 * np.sin(2 * np.pi * 2.1 * t + 2 * phase)
    drift = np.concatenate([40 * np.sin(2 * np.pi * 0.1 * t), 10 * np.cos(2 * np.pi * 0.07 * t)], -1)
    return (base + swing + drift).astype(np.float32)


def mirror_pixels(kp):
    out = kp[:, list(FLIP_PERMUTATION)].copy()
    out[..., 0] = SIZE[0] - out[..., 0]
    return out


def mirror_joints(j):
    out = j[:, list(FLIP_PERMUTATION)].copy()
    out[..., 0] = -out[..., 0]
    return out


def direct(model, kp):
    """The network on one normalised window, pelvis zeroed: what lift() must reproduce."""
    x = torch.tensor(normalize_screen(kp.astype(np.float64), SIZE), dtype=torch.float32)[None]
    with torch.no_grad():
        out = model(x)[0].numpy()
    out[:, 0] = 0
    return out


# --- lengths, shapes, determinism ----------------------------------------------------------------

@pytest.mark.parametrize("frames", [1, 2, 5, T - 1, T, T + 1, 100])
def test_any_length(lifter, frames):
    out = lifter.lift(walking(frames), fps=30, size=SIZE)
    assert out.shape == (frames, 17, 3) and out.dtype == np.float32
    assert np.isfinite(out).all() and (out[:, 0] == 0).all() and np.abs(out).max() > 1e-3


def test_deterministic(lifter):
    kp = walking(80)
    assert np.array_equal(lifter.lift(kp, fps=30, size=SIZE), lifter.lift(kp, fps=30, size=SIZE))


def test_one_mixste_window_is_the_network(weights):
    lifter = load_lifter(weights["mixste"], device="cpu", precision="fp32")
    kp = walking(T, fps=50)
    got = lifter.lift(kp, fps=50, size=SIZE, flip=False)
    assert np.allclose(got, direct(lifter.model, kp), atol=1e-5, rtol=0)


def test_pstmo_sliding_window_is_the_network_per_frame(weights):
    lifter = load_lifter(weights["pstmo"], device="cpu", precision="fp32")
    kp = walking(40, fps=25)
    got = lifter.lift(kp, fps=25, size=SIZE, flip=False, batch_windows=7)
    half = T // 2
    padded = np.concatenate([kp[:1].repeat(half, 0), kp, kp[-1:].repeat(half, 0)])
    for i in (0, 5, 13, 20, 39):  # each frame is the centre of its own edge-padded window
        assert np.allclose(got[i], direct(lifter.model, padded[i:i + T])[0], atol=1e-5, rtol=0)


def test_batching_does_not_change_the_result(lifter):
    kp = walking(60)
    a = lifter.lift(kp, fps=30, size=SIZE, batch_windows=1)
    b = lifter.lift(kp, fps=30, size=SIZE, batch_windows=64)
    assert np.allclose(a, b, atol=1e-5, rtol=0)


# --- flip test-time augmentation ------------------------------------------------------------------

def test_flip_makes_the_lift_mirror_symmetric(lifter):
    kp = walking(60)
    plain = lifter.lift(kp, fps=30, size=SIZE)
    mirrored = lifter.lift(mirror_pixels(kp), fps=30, size=SIZE)
    assert np.allclose(mirrored, mirror_joints(plain), atol=1e-5, rtol=0)
    # it is the average of the clip and its mirror image, lifted and mirrored back
    a = lifter.lift(kp, fps=30, size=SIZE, flip=False)
    b = lifter.lift(mirror_pixels(kp), fps=30, size=SIZE, flip=False)
    assert np.allclose(plain, 0.5 * (a + mirror_joints(b)), atol=1e-5, rtol=0)
    # without the augmentation a (random) network is not symmetric: the check above can fail
    assert not np.allclose(b, mirror_joints(a), atol=1e-3)


# --- windows and their seams ------------------------------------------------------------------------

def test_window_starts_cover_the_clip():
    for n, size, overlap in ((27, 27, 3), (28, 27, 3), (243 * 5 + 7, 243, 30), (100, 27, 0)):
        starts = window_starts(n, size, overlap)
        assert starts[0] == 0 and starts[-1] == n - size
        gaps = np.diff(starts)
        assert (gaps <= size - overlap).all() and (gaps > 0).all()


def _acceleration(joints):
    return np.linalg.norm(joints[2:] - 2 * joints[1:-1] + joints[:-2], axis=-1).sum(-1)  # [F-2]


def circling(frames, period, seed=0):
    """Every joint circles its place at one pace: the motion's acceleration is the same
    everywhere, so any seam shows as an excess."""
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, (1, 17))
    angle = 2 * np.pi * np.arange(frames)[:, None] / period + phase
    return (walking(1)[0] + 15 * np.stack([np.cos(angle), np.sin(angle)], -1)).astype(np.float32)


def test_no_seams_between_windows():
    """Where windows meet, the joints accelerate no more than inside windows; hard cuts do."""
    size, overlap, frames = 54, 18, 8 * 54
    torch.manual_seed(0)
    model = _randomise(MixSTE(num_frames=size, dim=32, depth=2, num_heads=4), 0,
                       skip={"temporal_pos"})
    lifter = Lifter(model, {"architecture": "mixste", "fps": 50.0}, torch.device("cpu"), "fp32")
    kp = circling(frames, period=20)

    starts = window_starts(frames, size, overlap)
    seams = np.zeros(frames, bool)  # the blended frames and two on either side
    for a, b in zip(starts, starts[1:]):
        seams[b - 2:a + size + 2] = True
    inside = ~seams
    inside[:size // 2] = inside[-size // 2:] = False  # away from the clip's ends
    blended = lifter.lift(kp, fps=50, size=SIZE, flip=False, overlap=overlap)
    acc = np.concatenate([[0], _acceleration(blended), [0]])
    within = acc[inside].max()
    # maxima over different frames of the motion: a few percent of slack
    assert acc[seams].max() <= 1.03 * within

    hard = lifter.lift(kp, fps=50, size=SIZE, flip=False, overlap=0)  # windows end to end
    acc = np.concatenate([[0], _acceleration(hard), [0]])
    jumps = max(acc[s - 1:s + 1].max() for s in window_starts(frames, size, 0)[1:])
    assert jumps > 1.5 * within  # what the check above catches


# --- frame rates ---------------------------------------------------------------------------------

def test_resample_is_exact_on_lines_and_cubics():
    t_from = np.arange(20) / 30
    t_to = np.arange(32) / 50  # inside [0, 19 / 30]
    line = 3 * t_from[:, None] - 1
    assert np.allclose(resample(line, t_from, t_to, cubic=False)[:, 0], 3 * t_to - 1)
    cube = (t_from ** 3 - t_from)[:, None, None]
    assert np.allclose(resample(cube, t_from, t_to, cubic=True)[:, 0, 0], t_to ** 3 - t_to)


def test_frame_rate_conversion(lifter):
    """A 2x-rate clip is resampled onto the model's grid: its every 2nd frame lifts exactly as
    the same motion recorded at the model's rate."""
    rate = lifter.fps
    fast = walking(161, fps=2 * rate)
    slow = fast[::2]
    a = lifter.lift(fast, fps=2 * rate, size=SIZE)
    b = lifter.lift(slow, fps=rate, size=SIZE)
    assert a.shape == (161, 17, 3) and b.shape == (81, 17, 3)
    assert np.allclose(a[::2], b, atol=1e-5, rtol=0)
    # between those frames the output is interpolated, smoothly
    assert np.abs(a[1::2] - 0.5 * (a[:-1:2] + a[2::2])).max() < 0.1 * np.abs(a).max()
    # resample_rate=False feeds the frames as they are
    c = lifter.lift(fast, fps=2 * rate, size=SIZE, resample_rate=False)
    assert not np.allclose(a, c, atol=1e-3)


def test_skipped_frames_are_placed_in_time(lifter):
    """frame_index with gaps: rows are placed at their video times, not packed together."""
    full = walking(90, fps=lifter.fps)
    keep = np.sort(np.r_[np.arange(0, 30), np.arange(32, 90, 1)])  # frames 30, 31 missing
    kp = Keypoints2D(keypoints=full[keep], scores=np.ones((len(keep), 17)),
                     valid=np.ones(len(keep), bool), fps=lifter.fps, size=SIZE, frame_index=keep)
    got = lifter.lift(kp)
    want = lifter.lift(full, fps=lifter.fps, size=SIZE)[keep]
    assert got.shape == (len(keep), 17, 3)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    packed = lifter.lift(full[keep], fps=lifter.fps, size=SIZE)  # the same rows, gap ignored
    assert np.abs(packed - want).max() > np.abs(got - want).max()


# --- undetected frames --------------------------------------------------------------------------

def test_undetected_frames_are_filled_from_neighbours(lifter):
    kp = walking(70)
    valid = np.ones(70, bool)
    valid[[0, 1, 20, 21, 22, 69]] = False
    broken = kp.copy()
    broken[~valid] = 0
    broken[21, 3] = np.nan
    filled = kp.copy()
    for f in (0, 1):
        filled[f] = kp[2]
    for i, f in enumerate((20, 21, 22)):
        filled[f] = kp[19] + (kp[23] - kp[19]) * (i + 1) / 4
    filled[69] = kp[68]
    got = lifter.lift({"keypoints": broken, "valid": valid, "fps": 30, "size": SIZE})
    assert np.isfinite(got).all()
    assert np.allclose(got, lifter.lift(filled, fps=30, size=SIZE), atol=1e-5, rtol=0)
    with pytest.raises(LiftRigError, match="never detected"):
        lifter.lift({"keypoints": kp, "valid": np.zeros(70, bool), "fps": 30, "size": SIZE})


# --- long clips: bounded memory --------------------------------------------------------------------

def test_ten_thousand_frames_in_bounded_batches(weights):
    lifter = load_lifter(weights["mixste"], device="cpu", precision="fp32")
    lifter.fast = False  # run lifter.model itself, so that a hook sees every call
    seen = []
    hook = lifter.model.register_forward_pre_hook(lambda m, args: seen.append(len(args[0])))
    try:
        out = lifter.lift(walking(10_000, fps=50), fps=50, size=SIZE, batch_windows=64)
    finally:
        hook.remove()
    assert out.shape == (10_000, 17, 3) and np.isfinite(out).all()
    # never more than 64 windows' activations at once, however long the clip
    assert max(seen) <= 64 and sum(seen) >= 2 * 10_000 / T
    assert 2 <= lifter.default_batch_windows() <= 4_300_000 // (T * 17 * 32)


def test_pstmo_long_clip_batches(weights):
    lifter = load_lifter(weights["pstmo"], device="cpu", precision="fp32")
    lifter.fast = False
    seen = []
    orig = lifter.model.forward_tokens
    lifter.model.forward_tokens = lambda tokens: seen.append(len(tokens)) or orig(tokens)
    out = lifter.lift(walking(10_000, fps=25), fps=25, size=SIZE, batch_windows=2000)
    assert out.shape == (10_000, 17, 3) and np.isfinite(out).all()
    assert max(seen) <= 2000 and sum(seen) == 2 * 10_000  # each frame once, plain and mirrored


# --- precision, inputs, progress ----------------------------------------------------------------

def test_precision(lifter):
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if cpu_has_fast_bf16()
                                                              else "fp32")
    with pytest.raises(LiftRigError, match="unknown precision"):
        resolve_precision("fp8", torch.device("cpu"))
    kp = walking(60)
    full = lifter.lift(kp, fps=30, size=SIZE, precision="fp32")
    half = lifter.lift(kp, fps=30, size=SIZE, precision="bf16")
    rms = np.sqrt(np.mean(full ** 2))
    dev = np.sqrt(np.mean((half - full) ** 2)) / rms
    assert 0 < dev < 0.02
    plain = Lifter(lifter.model, lifter.info, lifter.device, "fp32", fast=False)
    assert np.allclose(plain.lift(kp, fps=30, size=SIZE), full, atol=1e-5, rtol=0)


def test_inputs(lifter, tmp_path):
    kp = walking(40)
    want = lifter.lift(kp, fps=30, size=SIZE)
    k2d = Keypoints2D(keypoints=kp, scores=np.ones((40, 17)), valid=np.ones(40, bool), fps=30,
                      size=SIZE, frame_index=np.arange(40))
    k2d.save(tmp_path / "kp.npz")
    for given in (k2d, tmp_path / "kp.npz", str(tmp_path / "kp.npz"),
                  {"keypoints": kp, "fps": 30.0, "size": np.array(SIZE)}):
        assert np.array_equal(lifter.lift(given), want)
    with pytest.raises(LiftRigError, match="fps"):
        lifter.lift(kp)
    with pytest.raises(LiftRigError, match="shape"):
        lifter.lift(kp[:, :16], fps=30, size=SIZE)
    with pytest.raises(TypeError):
        lifter.lift([1, 2, 3])


def test_progress_and_cancel(lifter):
    calls = []
    lifter.lift(walking(90), fps=30, size=SIZE,
                batch_windows=4 if lifter.architecture == "mixste" else 32,
                progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert {c[0] for c in calls} == {"lifting"} and {c[2] for c in calls} == {90}
    done = [c[1] for c in calls]
    assert done == sorted(done) and done[-1] == 90 and len(done) > 2

    def cancel(stage, done, total):
        raise Cancelled

    with pytest.raises(Cancelled):
        lifter.lift(walking(90), fps=30, size=SIZE, progress=cancel)


# --- the command line -----------------------------------------------------------------------------

def test_cli_lift_npz(weights, tmp_path, capsys):
    kp = Keypoints2D(keypoints=walking(50), scores=np.full((50, 17), 0.9), valid=np.ones(50, bool),
                     fps=30, size=SIZE, frame_index=np.arange(50))
    kp.save(tmp_path / "kp.npz")
    out = tmp_path / "out.npz"
    assert main(["lift", str(tmp_path / "kp.npz"), "-o", str(out), "--weights",
                 str(weights["pstmo"]), "--device", "cpu", "--precision", "fp32", "-q"]) == 0
    with np.load(out) as data:
        assert data["joints3d"].shape == (50, 17, 3) and data["joints3d"].dtype == np.float32
        assert np.array_equal(data["keypoints"], kp.keypoints) and float(data["fps"]) == 30
        want = load_lifter(weights["pstmo"], device="cpu", precision="fp32").lift(kp)
        assert np.array_equal(data["joints3d"], want)
    assert Joints3D.load(out).joints.shape == (50, 17, 3)

    assert main(["lift", str(tmp_path / "kp.npz"), "-o", str(tmp_path / "out.csv"),
                 "--weights", str(weights["pstmo"])]) == 2
    assert "OUT.npz" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_cli_lift_without_default_model(tmp_path, capsys, monkeypatch):
    from liftrig.lifter import inference

    monkeypatch.setattr(inference, "DEFAULT_WEIGHTS", tmp_path / "absent.safetensors")
    Keypoints2D(keypoints=walking(5), scores=np.ones((5, 17)), valid=np.ones(5, bool), fps=30,
                size=SIZE, frame_index=np.arange(5)).save(tmp_path / "kp.npz")
    assert main(["lift", str(tmp_path / "kp.npz"), "-o", str(tmp_path / "o.npz")]) == 2
    err = capsys.readouterr().err
    assert "no default lifting model is installed" in err and "--weights" in err
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.slow
def test_cli_lift_video(weights, tmp_path):
    """Video in: the 2D stage's extract_keypoints, then the lifter (MediaPipe on real footage)."""
    from conftest import POSE_MODEL, VIDEOS, shared_path

    video = shared_path(VIDEOS["lab"].relative_to(VIDEOS["lab"].parents[1]))
    out = tmp_path / "lab.npz"
    assert main(["lift", str(video), "-o", str(out), "--weights", str(weights["mixste"]),
                 "--pose-model", str(POSE_MODEL), "--device", "cpu", "-q"]) == 0
    clip = Joints3D.load(out)
    kp, joints = clip.keypoints, clip.joints
    assert joints.shape == (kp.num_frames, 17, 3) and kp.num_frames > 50
    assert np.isfinite(joints).all() and kp.fps == pytest.approx(60, rel=0.01)

    # The 2D stage's own options: a frame range, one person looked for.
    part = tmp_path / "part.npz"
    assert main(["lift", str(video), "-o", str(part), "--weights", str(weights["mixste"]),
                 "--pose-model", str(POSE_MODEL), "--device", "cpu", "--start", "20",
                 "--end", "50", "--max-people", "1", "--no-progress"]) == 0
    clip = Joints3D.load(part)
    assert clip.num_frames == 30 and list(clip.keypoints.frame_index[[0, -1]]) == [20, 49]
    assert clip.joints.shape == (30, 17, 3)
