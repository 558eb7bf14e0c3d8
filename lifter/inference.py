# SPDX-License-Identifier: GPL-3.0-or-later
"""Whole-clip lifting: 2D keypoints of a clip of any length in, root-relative 3D joints out.

The steps, each undoing what the network needs of its input:
  fill undetected frames -> screen-normalise -> resample to the model's frame rate ->
  windows of T frames (MixSTE: overlapping, cross-faded; P-STMO: one window per frame) with
  flip test-time augmentation, in bounded batches -> resample back to the video's frames.
Output: [F, 17, 3] float32, metres, Human3.6M camera axes (x right, y down, z away from the
camera), the pelvis at the origin.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np

from ..checks import check_finite
from ..h36m import normalize_screen
from ..errors import LiftRigError
from ..formats import Keypoints2D
from ..h36m import NUM_JOINTS, mirror
from ..options import DEVICES, PRECISIONS
from ..progress import ProgressFn, report
from .default_weights import PACKAGED

# Token features per network call (windows x tokens x width): bounds the activations held at
# once. On CPUs about two MixSTE-243 windows (a window and its mirror): larger batches fall out of
# the caches and run slower. GPUs want many windows per call: 70 M is 32 MixSTE-243 windows
# (7,800 frames), a few GB of activations in bf16.
ACTIVATION_BUDGET = {"cpu": 4_300_000, "mps": 35_000_000, "cuda": 70_000_000}
DEFAULT_WEIGHTS = PACKAGED  # tests point it elsewhere
# Points further than this many frame sizes from the picture are broken detections.
OUTSIDE_PICTURE = 10.0


# --- numpy steps --------------------------------------------------------------------------------

def fill_missing(keypoints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace the points of undetected frames (and any non-finite value) by linear interpolation
    in time between the nearest good frames; the clip's ends hold the first/last good value."""
    kp = np.array(keypoints, np.float64)
    flat = kp.reshape(len(kp), -1)
    good = np.asarray(valid, bool)[:, None] & np.isfinite(flat)
    if not good.any(axis=0).all():
        raise LiftRigError("the subject is never detected in this clip (no valid 2D keypoints), "
                           "so there is nothing to lift. Check the video or pick another --person.")
    frames = np.arange(len(kp))
    for c in np.flatnonzero(~good.all(axis=0)):
        flat[:, c] = np.interp(frames, frames[good[:, c]], flat[good[:, c], c])
    return kp


def resample(values: np.ndarray, t_from: np.ndarray, t_to: np.ndarray, cubic: bool) -> np.ndarray:
    """Values [N, ...] sampled at times t_from -> at times t_to (linear, or a cubic spline)."""
    flat = values.reshape(len(values), -1)
    if cubic and len(t_from) >= 4:
        from scipy.interpolate import CubicSpline

        out = CubicSpline(t_from, flat, axis=0)(np.clip(t_to, t_from[0], t_from[-1]))
    else:
        out = np.stack([np.interp(t_to, t_from, col) for col in flat.T], axis=1)
    return out.reshape((len(t_to),) + values.shape[1:])


def window_starts(n: int, size: int, overlap: int) -> list[int]:
    """Starts of the fewest windows of ``size`` covering ``n`` frames with at least ``overlap``
    frames shared by neighbours, spread evenly (``n >= size``)."""
    overlap = min(max(overlap, 0), size - 1)
    count = 1 + math.ceil((n - size) / (size - overlap))
    return [round(s) for s in np.linspace(0, n - size, count)] if count > 1 else [0]


def blend_weights(starts: list[int], size: int) -> list[np.ndarray]:
    """Per-window weights that cross-fade neighbours over their shared frames (sin^2 / cos^2:
    they sum to one and have zero slope at both ends, so no kink is introduced)."""
    weights = []
    for k, start in enumerate(starts):
        w = np.ones(size)
        if k > 0 and (shared := starts[k - 1] + size - start) > 0:
            w[:shared] = np.sin(0.5 * np.pi * (np.arange(shared) + 0.5) / shared) ** 2
        if k + 1 < len(starts) and (shared := start + size - starts[k + 1]) > 0:
            w[size - shared:] = np.cos(0.5 * np.pi * (np.arange(shared) + 0.5) / shared) ** 2
        weights.append(w)
    return weights


def _as_keypoints(keypoints, fps, size) -> Keypoints2D:
    if isinstance(keypoints, (str, Path)):
        keypoints = Keypoints2D.load(keypoints)
    if isinstance(keypoints, Keypoints2D):
        if fps is None and size is None:
            return keypoints
        arrays = {"keypoints": keypoints.keypoints, "valid": keypoints.valid,
                  "frame_index": keypoints.frame_index, "fps": keypoints.fps,
                  "size": keypoints.size}
    elif isinstance(keypoints, np.ndarray):
        arrays = {"keypoints": keypoints}
    elif hasattr(keypoints, "keys"):
        arrays = {k: keypoints[k] for k in ("keypoints", "valid", "frame_index", "fps", "size")
                  if k in keypoints}
    else:
        raise TypeError("lift() takes a Keypoints2D, a keypoints .npz path, a mapping of its "
                        f"arrays or a [F, 17, 2] array, not {type(keypoints).__name__}")
    if fps is not None:
        arrays["fps"] = fps
    if size is not None:
        arrays["size"] = size
    if "fps" not in arrays or "size" not in arrays:
        raise LiftRigError("lifting an array of pixel keypoints needs the video's fps and its "
                           "frame size (width, height): pass fps=... and size=(w, h).")
    kp = np.asarray(arrays["keypoints"], np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_JOINTS, 2) or len(kp) == 0:
        raise LiftRigError(f"keypoints must have shape [F >= 1, {NUM_JOINTS}, 2], "
                           f"got {list(kp.shape)}")
    n = len(kp)
    return Keypoints2D(keypoints=kp, scores=np.ones((n, NUM_JOINTS), np.float32),
                       valid=arrays.get("valid", np.ones(n, bool)),
                       frame_index=arrays.get("frame_index", np.arange(n)),
                       fps=float(np.asarray(arrays["fps"])),
                       size=tuple(int(v) for v in np.asarray(arrays["size"]).ravel()[:2]))


# --- the lifter -----------------------------------------------------------------------------

class Lifter:
    """A loaded lifting network (``model``, float32, on ``device``) and whole-clip inference.

    ``fast=False`` runs ``model`` exactly as it is (the benchmark's baseline); by default CPU
    inference uses a copy with oneDNN-packed linear layers (:mod:`.packing`).
    """

    def __init__(self, model, info: dict, device, precision: str = "auto", fast: bool = True):
        self.model = model
        self.info = info
        self.architecture: str = info["architecture"]
        self.fps: float = float(info["fps"])  # the frame rate the network was trained at
        self.num_frames: int = model.num_frames  # the window length T
        self.device = device
        self.precision = resolve_precision(precision, device)
        self.fast = fast
        self._runners: dict[str, object] = {}

    def __repr__(self) -> str:
        return (f"Lifter({self.architecture}, T={self.num_frames}, {self.fps:g} fps, "
                f"device={self.device}, precision={self.precision})")

    def _runner(self, precision: str):
        """The module that runs at ``precision``: ``model`` itself, or its packed CPU copy."""
        import torch

        from .models import attention_impl
        from .packing import pack_linears, packing_available

        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        if not (self.fast and self.device.type == "cpu" and packing_available(dtype)):
            return self.model
        if precision not in self._runners:
            packed = pack_linears(self.model, dtype)
            # In bf16 on CPUs, MixSTE's attention (head size 64) runs faster as plain batched
            # matmuls than in the fused kernel; P-STMO's (head size 32) does not.
            explicit = precision != "fp32" and self.architecture == "mixste"
            self._runners[precision] = attention_impl(packed, "explicit" if explicit else "sdpa")
        return self._runners[precision]

    def default_batch_windows(self, flip: bool = True) -> int:
        """Windows per network call (mirrored ones included) that fit the device's budget."""
        width = self.model.temporal_pos.shape[-1]
        tokens = self.num_frames * (self.model.num_joints if self.architecture == "mixste" else 1)
        per_window = tokens * width
        return max(2 if flip else 1, ACTIVATION_BUDGET.get(self.device.type, 4_300_000) // per_window)

    def lift(self, keypoints, *, flip: bool = True, fps: float | None = None,
             size: tuple[int, int] | None = None, precision: str | None = None,
             batch_windows: int | None = None, overlap: int | None = None,
             resample_rate: bool = True, progress: ProgressFn | None = None) -> np.ndarray:
        """3D joints [F, 17, 3] (float32, metres, root-relative) for a clip of F >= 1 frames.

        ``keypoints``: a :class:`Keypoints2D`, a keypoints ``.npz`` path, a mapping of its arrays
        or a [F, 17, 2] pixel array (then pass ``fps`` and ``size=(w, h)``). Undetected frames are
        filled in from their neighbours. ``flip`` averages with the mirrored clip.
        ``batch_windows`` bounds the windows per network call, mirrored ones included (memory:
        the activations of one call are all that is held at once); ``overlap`` is how many
        frames neighbouring MixSTE windows share (default T // 8); ``resample_rate=False`` feeds
        the video's frames to the network as they are, whatever the rates.
        """
        import torch

        kp = _as_keypoints(keypoints, fps, size)
        precision = resolve_precision(precision or self.precision, self.device)
        # A point far outside the picture (a broken detection, 1e30) counts as not detected.
        with np.errstate(invalid="ignore"):
            wild = (np.abs(kp.keypoints) > OUTSIDE_PICTURE * max(kp.size)).any(axis=-1)  # [F, 17]
        raw = np.where(wild[..., None], np.nan, kp.keypoints)
        points = normalize_screen(fill_missing(raw, kp.valid), kp.size)

        # Each row's time (frame_index may skip frames), then the model's grid over that span.
        steps = np.diff(kp.frame_index)
        rows = kp.frame_index - kp.frame_index[0] if (steps > 0).all() else np.arange(len(steps) + 1)
        times = rows / kp.fps
        same_rate = np.allclose(np.diff(times) * self.fps, 1.0, rtol=0, atol=1e-3)
        if resample_rate and not same_rate:
            count = int(math.floor(times[-1] * self.fps + 1e-6)) + 1
            if (count - 1) / self.fps < times[-1] - 1e-9:
                count += 1  # one more sample so the grid reaches the last frame
            model_times = np.arange(count) / self.fps
            points_model = resample(points, times, model_times, cubic=False)
        else:
            model_times = None
            points_model = points

        x = torch.as_tensor(points_model, dtype=torch.float32, device=self.device)
        per_call = max(1, int(batch_windows or self.default_batch_windows(flip)))
        if flip:
            per_call = max(1, per_call // 2)  # positions per call; each runs plain and mirrored
        net = self._runner(precision)
        report(progress, "lifting", 0, len(points))  # the bar's clock starts with the work
        with torch.inference_mode(), _autocast(self.device, precision):
            if self.architecture == "mixste":
                joints = self._lift_mixste(net, x, flip, per_call, overlap, progress, len(points))
            elif self.architecture == "pstmo":
                joints = self._lift_pstmo(net, x, flip, per_call, progress, len(points))
            else:
                raise LiftRigError(f"a {self.architecture} model does not output 3D joints "
                                   "(it is P-STMO's pre-training stage); load a stage-II model.")
        joints = joints.double().cpu().numpy()
        if model_times is not None:
            joints = resample(joints, model_times, times, cubic=True)
        joints[:, 0] = 0.0  # root-relative: the pelvis is the origin
        check_finite("the lifted 3D joints", joints, "the model's weights are broken: "
                     "use the default model or other --weights")
        return joints.astype(np.float32)

    # The flip-augmented network over a batch of windows [B, T, J, 2] -> [B, T', J, 3].
    def _run(self, fn, windows, flip: bool):
        import torch

        if not flip:
            return fn(windows).float()
        both = fn(torch.cat([windows, mirror(windows)])).float()
        plain, mirrored = both.chunk(2)
        return 0.5 * (plain + mirror(mirrored))

    def _lift_mixste(self, net, x, flip, per_batch, overlap, progress, clip_frames):
        import torch

        T, n = self.num_frames, len(x)
        if n < T:  # pad at both ends with the edge frames, the clip in the middle
            left = (T - n) // 2
            x = torch.cat([x[:1].expand(left, -1, -1), x, x[-1:].expand(T - n - left, -1, -1)])
        else:
            left = 0
        starts = window_starts(len(x), T, T // 8 if overlap is None else overlap)
        weights = torch.as_tensor(np.stack(blend_weights(starts, T)), dtype=torch.float32,
                                  device=x.device)
        total = torch.zeros(len(x), x.shape[1], 3, device=x.device)
        norm = torch.zeros(len(x), 1, 1, device=x.device)
        for b in range(0, len(starts), per_batch):
            batch = starts[b:b + per_batch]
            out = self._run(net, torch.stack([x[s:s + T] for s in batch]), flip)
            for k, s in enumerate(batch):
                w = weights[b + k][:, None, None]
                total[s:s + T] += w * out[k]
                norm[s:s + T] += w
            report(progress, "lifting", clip_frames * (b + len(batch)) // len(starts), clip_frames)
        return (total / norm)[left:left + n]

    def _lift_pstmo(self, net, x, flip, per_batch, progress, clip_frames):
        import torch

        T, n = self.num_frames, len(x)
        half = T // 2
        # Edge-pad so that every frame is the centre of a window of T frames.
        x = torch.cat([x[:1].expand(half, -1, -1), x, x[-1:].expand(T - 1 - half, -1, -1)])
        clips = [x, mirror(x)] if flip else [x]
        # The frame encoder sees one frame at a time: encode every frame once, not T times.
        chunk = per_batch * T
        tokens = [torch.cat([net.encode_frames(c[i:i + chunk]) for i in range(0, len(c), chunk)])
                  for c in clips]
        out = torch.empty(n, x.shape[1], 3, device=x.device)
        for i in range(0, n, per_batch):
            j = min(n, i + per_batch)
            windows = [t.unfold(0, T, 1)[i:j].transpose(1, 2) for t in tokens]  # [b, T, C]
            centres = net.forward_tokens(torch.cat(windows)).float()  # [len * b, 1, J, 3]
            if flip:
                plain, mirrored = centres.chunk(2)
                centres = 0.5 * (plain + mirror(mirrored))
            out[i:j] = centres[:, 0]
            report(progress, "lifting", clip_frames * j // n, clip_frames)
        return out


# --- devices and precision ------------------------------------------------------------------------

def resolve_device(device: str = "auto"):
    import torch

    name = str(device)
    if name not in DEVICES and not name.startswith("cuda:"):
        raise LiftRigError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LiftRigError("--device cuda was asked for, but PyTorch sees no CUDA GPU here "
                           "(a CPU-only torch build, or no driver). Use --device cpu or auto.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise LiftRigError("--device mps was asked for, but Metal is not available here. "
                           "Use --device cpu or auto.")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has bf16 matrix instructions (AMX-BF16 or AVX512-BF16; Linux only)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str, device) -> str:
    """``auto`` -> bf16 on CUDA GPUs that support it and on CPUs with bf16 matrix units, else fp32."""
    import torch

    if precision not in PRECISIONS:
        raise LiftRigError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def _autocast(device, precision: str):
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def load_lifter(path=None, device: str = "auto", precision: str = "auto",
                num_heads: int | None = None) -> Lifter:
    """Load lifting weights and return a :class:`Lifter` ready to ``lift()`` clips.

    ``path``: a LiftRig ``.safetensors`` file or a published MixSTE / P-STMO checkpoint; None
    loads the default model: ``lifter/weights/default.safetensors`` in the package, else the
    copy the Blender preferences installed (:mod:`.default_weights`).
    ``device``: auto | cuda | mps | cpu. ``precision``: auto | fp32 | bf16 | fp16.
    ``num_heads``: only for published checkpoints of non-standard models (default 8).
    """
    from .checkpoints import read_checkpoint

    if path is None:
        from .default_weights import find_default_weights, installed_path

        path = find_default_weights(DEFAULT_WEIGHTS)
        if path is None:
            raise LiftRigError(
                "no default lifting model is installed yet (LiftRig looks for "
                f"{DEFAULT_WEIGHTS} and {installed_path()}; in Blender: Preferences > Add-ons "
                "> LiftRig > Default lifter). Pass weights explicitly: --weights PATH on the "
                "command line, or load_lifter(PATH), with a MixSTE or P-STMO checkpoint or a "
                "LiftRig .safetensors file.")
    dev = resolve_device(device)
    resolve_precision(precision, dev)  # fail early on a bad name
    model, info = read_checkpoint(path, num_heads=num_heads)
    if info["architecture"] not in ("mixste", "pstmo"):
        raise LiftRigError(f"{path} is a P-STMO stage-I (pre-training) checkpoint, which "
                           "rebuilds 2D poses and does not lift: use its fine-tuned stage-II "
                           "checkpoint.")
    return Lifter(model.to(dev), info, dev, precision)
