# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic training pairs from free motion capture, seen through random virtual cameras.

The default model never sees Human3.6M. Instead, every training window is made on the fly:
a stretch of motion capture (Bandai Namco, CMU), a random camera, a perspective projection,
and detector-like errors, so the 2D input looks like what MediaPipe gives at run time after
LiftRig's mapping (:func:`liftrig.detect.landmarks.coco17_to_h36m` builds the derived joints
from projected landmarks exactly as it does from MediaPipe's).

Preparation (once, cached): both archives in ``../shared/data`` are extracted, every BVH clip
is read and mapped to the Human3.6M points (targets) and the COCO-17 landmarks (what a 2D
detector sees), resampled to :data:`TRAIN_FPS`, and stored in one ``.npz``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import LiftRigError
from ...fileio import save_npz_atomic
from ...h36m import mirror as mirror_poses
from ...detect.landmarks import coco17_to_h36m
from ...progress import ProgressFn, report
from .bodies import BodyRanges, repose, sample_body

TRAIN_FPS = 30.0
ARCHIVES = {"bandai": "bandai-namco-motion-bvh.tar.xz", "cmu": "cmu-dance-martial-bvh.tar.xz"}
# What weights trained on these archives inherit (recorded in the .safetensors metadata).
WEIGHTS_LICENSE = "CC-BY-NC-4.0"
WEIGHTS_LICENSE_NOTE = ("Trained on the Bandai Namco Research Motion Dataset (CC BY-NC 4.0, "
                        "non-commercial) and CMU mocap; see lifter/weights/MODEL_CARD.md")
CACHE_NAME = "mocap_h36m_30fps.npz"
# COCO-17 left/right mirror (nose; eyes, ears, shoulders, ... swap).
COCO_FLIP = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)


# --- preparation ---------------------------------------------------------------------------------

@dataclass
class MocapClip:
    """One motion-capture clip at TRAIN_FPS in LiftRig's world (metres, Z up)."""

    name: str
    source: str          # bandai | cmu
    group: str           # the content/style group (Bandai) or the dance/martial family (CMU)
    h36m: np.ndarray     # float32 [F, 17, 3] the targets
    coco: np.ndarray     # float32 [F, 17, 3] the landmarks a detector sees

    def __len__(self) -> int:
        return len(self.h36m)


def clip_group(source: str, name: str) -> str:
    """``dataset-1_walk_normal_001`` -> ``bandai/1/walk/normal``; CMU clips by their folder."""
    if source == "bandai":
        parts = name.split("_")
        return f"bandai/{parts[0].split('-')[-1]}/{parts[1]}/{parts[2]}"
    return f"cmu/{name}"


def extract(shared_data: Path, cache: Path, progress: ProgressFn | None = None) -> dict[str, Path]:
    """Unpack both archives (once) into ``cache``; returns each source's folder."""
    folders = {}
    for source, archive in ARCHIVES.items():
        path = Path(shared_data) / archive
        if not path.is_file():
            raise LiftRigError(f"{path} is missing: the motion capture archives live in "
                               "../shared/data (see its README).")
        dest = Path(cache) / "mocap" / source
        marker = dest / ".complete"
        if not marker.exists():
            report(progress, f"extracting {source}", 0, None)
            with tarfile.open(path) as tar:
                tar.extractall(dest, filter="data")
            marker.touch()
        folders[source] = dest
    return folders


def _resample(points: np.ndarray, fps: float, target_fps: float) -> np.ndarray:
    """Points [F, ...] at ``fps`` -> at ``target_fps`` by linear interpolation in time."""
    if abs(fps - target_fps) < 1e-3 * target_fps:  # e.g. a frame time of 0.033333 s
        return points
    duration = (len(points) - 1) / fps
    t_new = np.arange(0.0, duration + 1e-9, 1.0 / target_fps) * fps
    lo = np.floor(t_new).astype(int).clip(0, len(points) - 1)
    hi = (lo + 1).clip(0, len(points) - 1)
    w = (t_new - lo).reshape((-1,) + (1,) * (points.ndim - 1))
    return (1 - w) * points[lo] + w * points[hi]


def prepare(shared_data: Path, cache: Path, progress: ProgressFn | None = None) -> Path:
    """Build (once) the cached ``.npz`` of every clip's points at TRAIN_FPS; returns its path."""
    from ...retarget.bvh import read_bvh
    from ...retarget.mocap_map import mocap_points

    out = Path(cache) / "mocap" / CACHE_NAME
    if out.is_file():
        return out
    folders = extract(shared_data, cache, progress)
    files = [(source, f) for source, folder in folders.items()
             for f in sorted(folder.rglob("*.bvh")) if f.stem != "standard"]
    names, sources, groups, lengths, h36m_all, coco_all = [], [], [], [], [], []
    for i, (source, path) in enumerate(files):
        motion = read_bvh(path)
        h36m, coco = mocap_points(motion)
        h36m = _resample(h36m, motion.fps, TRAIN_FPS).astype(np.float32)
        coco = _resample(coco, motion.fps, TRAIN_FPS).astype(np.float32)
        names.append(path.stem)
        sources.append(source)
        groups.append(clip_group(source, path.stem))
        lengths.append(len(h36m))
        h36m_all.append(h36m)
        coco_all.append(coco)
        report(progress, "reading motion capture", i + 1, len(files))
    save_npz_atomic(out, names=np.array(names), sources=np.array(sources),
                    groups=np.array(groups), lengths=np.array(lengths),
                    h36m=np.concatenate(h36m_all), coco=np.concatenate(coco_all))
    return out


def load_clips(path: Path) -> list[MocapClip]:
    """The clips of a cache file made by :func:`prepare`."""
    with np.load(path) as data:
        ends = np.cumsum(data["lengths"])
        h36m, coco = data["h36m"], data["coco"]
        return [MocapClip(str(n), str(s), str(g), h36m[e - k:e], coco[e - k:e])
                for n, s, g, k, e in zip(data["names"], data["sources"], data["groups"],
                                         data["lengths"], ends)]


def is_held_out(group: str, val_fraction: float = 0.1, seed: str = "liftrig") -> bool:
    """Whether a clip group (:func:`clip_group`) is held out for validation: a hash of its name
    falls under ``val_fraction``, so the split never changes with the file order."""
    digest = hashlib.sha256(f"{seed}/{group}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < val_fraction


def split_clips(clips: list[MocapClip], val_fraction: float = 0.1, seed: str = "liftrig"
                ) -> tuple[list[MocapClip], list[MocapClip]]:
    """Hold out whole groups (content/style, or a CMU clip), see :func:`is_held_out`."""
    train = [c for c in clips if not is_held_out(c.group, val_fraction, seed)]
    val = [c for c in clips if is_held_out(c.group, val_fraction, seed)]
    return train, val


# --- virtual cameras and detector-like errors ------------------------------------------------------

@dataclass(frozen=True)
class CameraRanges:
    """The virtual cameras' distribution. The defaults are the studio-like cameras the first two
    stages of the default model saw; :data:`EVERYDAY_CAMERAS` are the cameras people film with."""

    yaw_deg: tuple[float, float] = (0.0, 360.0)
    pitch_deg: tuple[float, float] = (-10.0, 30.0)   # positive: looking down at the subject
    distance_m: tuple[float, float] = (2.5, 7.0)
    focal_mm: tuple[float, float] = (35.0, 70.0)     # 35 mm equivalent (36 mm on the long side)
    roll_deg: float = 3.0                            # hand-held tilt, standard deviation
    sizes: tuple[tuple[int, int], ...] = ((1920, 1080), (1280, 720), (1080, 1920), (720, 1280))
    principal_jitter: float = 0.03                   # of the image size, standard deviation
    aim_jitter_m: float = 0.4                        # subject not always centred
    height_scale: tuple[float, float] = (0.85, 1.12) # subjects of different heights
    keep_in_frame: bool = True                       # step back to fit the subject (frame_subject)
    # Everyday cameras (all off in the studio defaults):
    phone_share: float = 0.0                         # share at a phone's main lens ...
    phone_focal_mm: tuple[float, float] = (24.0, 28.0)
    wide_share: float = 0.0                          # ... and at an ultra-wide one
    wide_focal_mm: tuple[float, float] = (13.0, 16.0)
    # Camera height above the floor, (share, low, high) per kind of shot; empty: the pitch
    # range decides (studio). The camera then looks at the subject, its pitch clamped to
    # pitch_limits_deg (it cannot tilt further, so a low, close camera cuts the head off).
    heights_m: tuple[tuple[float, float, float], ...] = ()
    pitch_limits_deg: tuple[float, float] = (-15.0, 60.0)
    out_of_frame: float = 0.0                        # share of windows left unframed
    min_depth_m: float = 2.0                         # no frame comes closer to the camera


# What people film with: phones (main lens 24-28 mm equivalent, ultra-wide 13-16 mm) most of
# the time, otherwise anything from 13 to 85 mm (log-uniform); 1.2-10 m away; from a table
# (0.3-0.8 m), hand-held or on a tripod (0.8-1.8 m), or from a balcony or high on a wall
# (1.8-4 m, looking down up to 60 degrees); 4:3 and 16:9, portrait and landscape; the subject
# off-centre, and partly out of the picture in a tenth of the windows.
EVERYDAY_CAMERAS = CameraRanges(
    distance_m=(1.2, 10.0), focal_mm=(13.0, 85.0), phone_share=0.5, wide_share=0.1,
    sizes=((1920, 1080), (1280, 720), (1080, 1920), (720, 1280), (1440, 1080), (1080, 1440)),
    heights_m=((0.2, 0.3, 0.8), (0.55, 0.8, 1.8), (0.25, 1.8, 4.0)), roll_deg=4.0,
    principal_jitter=0.04, aim_jitter_m=0.3, height_scale=(1.0, 1.0), out_of_frame=0.1,
    min_depth_m=1.0)


@dataclass(frozen=True)
class DetectorNoise:
    """Errors that make projected mocap look like MediaPipe landmarks after LiftRig's mapping.

    Numbers (fractions are of the body height in pixels), chosen from the shared clips:
    MediaPipe's world landmarks put the hips 0.19-0.23 m apart and the shoulders 0.32-0.34 m,
    against 0.13 and 0.21 m between the mocap joints, and its hip-to-shoulder distance is 5-6 cm
    longer; its high-frequency jitter (residual to a 0.2 s Savitzky-Golay fit) is 0.3-0.5 % of
    the body height on the torso of a calm subject and 1-2 % on back-lit, fast motion, about
    twice that on wrists and ankles.
    """

    hip_out_m: tuple[float, float] = (0.02, 0.05)
    hip_down_m: tuple[float, float] = (0.01, 0.05)
    shoulder_out_m: tuple[float, float] = (0.03, 0.07)
    shoulder_up_m: tuple[float, float] = (0.0, 0.03)
    white: tuple[float, float] = (0.002, 0.012)       # per-frame jitter, per clip level
    white_log_uniform: bool = False                   # its level drawn log-uniformly (else uniformly)
    slow: tuple[float, float] = (0.003, 0.015)        # temporally correlated drift
    slow_time_s: tuple[float, float] = (0.15, 0.6)    # its correlation time
    extremity_factor: float = 2.0                     # wrists, ankles (and elbows, knees: half)
    dropout_rate: float = 0.004                       # per joint and frame, start of a bad burst
    dropout_error: float = 0.08                       # how far off a bad landmark is
    swap_rate: float = 0.004                          # per frame, start of a left/right leg swap
    missing_rate: float = 0.01                        # per frame, start of an undetected burst
    blur: tuple[float, float] = (0.0, 0.0)            # extra jitter per pixel/frame of motion
    off_frame_error: float = 0.0                      # jitter of a landmark outside the picture


# The detector on the drawn bodies of :mod:`.bodies`, whose joint-centre widths are an adult's
# (hips 0.10, shoulders 0.20 of stature) rather than the Bandai actor's (0.08 and 0.13): MediaPipe's
# world landmarks on the shared clips put hips 0.19-0.23 m and shoulders 0.32-0.34 m apart, so
# its hips lie 0.5-3 cm outside the joint centres and its shoulders about on them. Fast limbs
# blur (jitter grows with a point's speed in the image) and MediaPipe guesses the landmarks it
# cannot see outside the picture (4 % of the body height, doubled at the extremities).
REAL_BODY_DETECTOR = DetectorNoise(hip_out_m=(0.005, 0.03), shoulder_out_m=(-0.01, 0.015),
                                   blur=(0.0, 0.15), off_frame_error=0.04)

# The detector on everyday footage: the per-frame jitter of :data:`REAL_BODY_DETECTOR` spans too
# little. Measured as the residual to a 0.2 s quadratic Savitzky-Golay fit, per axis, in % of the
# body height, median over the 17 joints: MediaPipe on the lab clip (913 px tall, lit) 0.18 %
# (wrists 1.7-2.5 %); on the outdoor clip (345 px, back-lit) 1.85 % (ankles 3.7-5.3 %);
# REAL_BODY_DETECTOR's windows 0.42 % (90th percentile 0.69 %). The level drawn log-uniformly
# from 0.1 % to 4 % (x2 at the extremities) reaches the outdoor clip's, and clean detections
# stay as likely as noisy ones.
EVERYDAY_DETECTOR = dataclasses.replace(REAL_BODY_DETECTOR, white=(0.001, 0.04),
                                        white_log_uniform=True)


# The points of a "seen" target that come from the detector's landmarks (film(seen_targets)):
# pelvis, hips, thorax, shoulders; the limbs' joints are the same in both.
SEEN_JOINTS = [0, 1, 4, 8, 11, 14]
FRAME_MARGIN = 0.02    # of the frame size, kept free around the subject

# COCO-17 landmarks that are extremities (x2 noise) and mid-limb joints (x1.5).
_EXTREMITY = np.array([9, 10, 15, 16])
_MID_LIMB = np.array([7, 8, 13, 14])


def _correlated_noise(rng, frames: int, joints: int, sigma: float, time_s: float, fps: float):
    """Gaussian noise [frames, joints, 2] with stationary std ``sigma`` and an exponential
    autocorrelation of time constant ``time_s`` (a first-order autoregressive process)."""
    a = np.exp(-1.0 / max(time_s * fps, 1e-3))
    out = np.empty((frames, joints, 2))
    out[0] = rng.normal(0, sigma, (joints, 2))
    innovation = rng.normal(0, sigma * np.sqrt(1 - a * a), (frames, joints, 2))
    for t in range(1, frames):
        out[t] = a * out[t - 1] + innovation[t]
    return out


def _bursts(rng, frames: int, rate: float, shape=(), max_len: int = 12) -> np.ndarray:
    """Boolean [frames, *shape]: runs of 1-``max_len`` frames starting with probability ``rate``."""
    starts = rng.random((frames,) + shape) < rate
    out = np.zeros_like(starts)
    for length in range(max_len):
        shifted = np.roll(starts, length, axis=0)
        shifted[:length] = False
        keep = rng.random((frames,) + shape) < 0.85 ** length
        out |= shifted & keep
    return out


def _landmark_offsets(rng, coco: np.ndarray, noise: DetectorNoise) -> np.ndarray:
    """Move the hip and shoulder landmarks where a detector puts them: out, hips down."""
    coco = coco.copy()
    up = np.array([0.0, 0.0, 1.0])
    for left, right, out_range, vertical, sign in ((11, 12, noise.hip_out_m, noise.hip_down_m, -1),
                                                   (5, 6, noise.shoulder_out_m, noise.shoulder_up_m, 1)):
        across = coco[:, left] - coco[:, right]                       # [T, 3]
        across /= np.linalg.norm(across, axis=-1, keepdims=True) + 1e-9
        out_m, vert_m = rng.uniform(*out_range), rng.uniform(*vertical)
        coco[:, left] += out_m * across + sign * vert_m * up
        coco[:, right] += -out_m * across + sign * vert_m * up
    return coco


def sample_camera(rng, centre: np.ndarray, ranges: CameraRanges, floor: float | None = None):
    """A random camera aimed near ``centre`` (world, Z up; ``floor``: the floor's height, for
    cameras placed by their height): (rotation [3,3], position [3], focal px, principal point
    [2], size (w, h))."""
    from ...retarget.root_path import look_at_rotation

    w, h = ranges.sizes[rng.integers(len(ranges.sizes))]
    yaw = np.radians(rng.uniform(*ranges.yaw_deg))
    if ranges.heights_m:
        target = centre + np.append(rng.normal(0, ranges.aim_jitter_m, 2), rng.normal(0, 0.1))
        distance = np.exp(rng.uniform(*np.log(ranges.distance_m)))   # horizontal, log-uniform
        shares = np.array([k[0] for k in ranges.heights_m])
        _, low, high = ranges.heights_m[rng.choice(len(shares), p=shares / shares.sum())]
        ground = centre[2] - 0.9 if floor is None else floor
        position = np.array([centre[0] + distance * np.cos(yaw), centre[1] + distance * np.sin(yaw),
                             ground + rng.uniform(low, high)])          # from the subject, ...
        look = target - position                                        # ... aimed near it
        pitch = np.arctan2(-look[2], np.linalg.norm(look[:2]))           # positive: down
        pitch = np.clip(pitch, *np.radians(ranges.pitch_limits_deg))
        heading = look[:2] / np.linalg.norm(look[:2])
        aim = position + np.append(np.cos(pitch) * heading, -np.sin(pitch))
        rotation = look_at_rotation(position, aim, rng.normal(0, ranges.roll_deg))
    else:  # (the random draws in the order the studio cameras always made them)
        pitch = np.radians(rng.uniform(*ranges.pitch_deg))
        distance = rng.uniform(*ranges.distance_m)
        target = centre + np.append(rng.normal(0, ranges.aim_jitter_m, 2), rng.normal(0, 0.1))
        position = target + distance * np.array([np.cos(pitch) * np.cos(yaw),
                                                 np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
        rotation = look_at_rotation(position, target, rng.normal(0, ranges.roll_deg))
    kind = rng.random() if ranges.phone_share or ranges.wide_share else 1.0
    if kind < ranges.phone_share:
        focal_mm = rng.uniform(*ranges.phone_focal_mm)
    elif kind < ranges.phone_share + ranges.wide_share:
        focal_mm = rng.uniform(*ranges.wide_focal_mm)
    elif ranges.heights_m:  # everyday: any lens, log-uniform
        focal_mm = np.exp(rng.uniform(*np.log(ranges.focal_mm)))
    else:
        focal_mm = rng.uniform(*ranges.focal_mm)
    focal = focal_mm / 36.0 * max(w, h)
    principal = np.array([w, h]) * (0.5 + rng.normal(0, ranges.principal_jitter, 2))
    return rotation, position, focal, principal, (int(w), int(h))


def frame_subject(points: np.ndarray, rotation: np.ndarray, position: np.ndarray, focal: float,
                  principal: np.ndarray, size: tuple[int, int], target: np.ndarray,
                  max_distance: float) -> np.ndarray:
    """The camera position, stepped back along its optical axis just far enough that every point
    [T, N, 3] (world) of every frame is in the picture, as someone filming a person frames them;
    at most until the camera is ``max_distance`` from ``target`` (the subject's mean position):
    the cameras stay within the issue's range, so a long walk past a zoomed-in camera may
    still leave the frame. Stepping back only shrinks each point's
    offset from the principal point, so the smallest step is found by bisection."""
    w, h = size
    low_edge = np.array([w, h]) * FRAME_MARGIN
    high_edge = np.array([w, h]) * (1 - FRAME_MARGIN)
    cam = (points - position) @ rotation.T                # [T, N, 3]

    def fits(step: float) -> bool:
        depth = cam[..., 2:3] + step
        if (depth <= 0.1).any():
            return False
        pixels = focal * cam[..., :2] / depth + principal
        return bool(((pixels >= low_edge) & (pixels <= high_edge)).all())

    longest = max(max_distance - float(np.linalg.norm(position - target)), 0.0)
    if fits(0.0):
        return position
    if not fits(longest):
        return position - longest * rotation[2]
    low, high = 0.0, longest
    for _ in range(20):                                     # to ~1e-5 of the longest step
        mid = 0.5 * (low + high)
        low, high = (low, mid) if fits(mid) else (mid, high)
    return position - high * rotation[2]


def film(rng, h36m: np.ndarray, coco: np.ndarray, fps: float,
         ranges: CameraRanges = CameraRanges(), noise: DetectorNoise | None = DetectorNoise(),
         mirror: bool = False, bodies: BodyRanges | None = None, seen_targets: bool = False):
    """Film world points [T, 17, 3] (targets) and landmarks [T, 17, 3] with a random camera:
    (2D keypoints [T, 17, 2] in pixels as LiftRig's 2D stage would give them, the frame size
    (w, h), 3D target [T, 17, 3] metres, camera axes, root-relative). ``noise=None``: exact.

    ``bodies``: the motion is first re-posed on a body drawn from that population
    (:mod:`.bodies`), else scaled uniformly by ``ranges.height_scale``. ``seen_targets``: the
    target's hips and shoulders are where the detector puts them (the 3D points whose
    projections the 2D input is made from), pelvis and thorax their midpoints, as the 2D
    stage derives them; otherwise the mocap's joint centres."""
    if bodies is not None:
        h36m, coco = repose(h36m, coco, sample_body(rng, h36m, bodies))
    else:
        scale = rng.uniform(*ranges.height_scale)
        root = h36m[:, :1].copy()
        h36m = root + scale * (h36m - root)   # a taller or shorter subject, same path
        coco = root + scale * (coco - root)
    if mirror:  # the world mirrored left/right (x negated), joints relabelled
        h36m, coco = mirror_poses(h36m), mirror_poses(coco, COCO_FLIP)
    if noise is not None:
        coco = _landmark_offsets(rng, coco, noise)
    if seen_targets:
        seen, _ = coco17_to_h36m(coco, np.ones(coco.shape[:2]))
        h36m = np.array(h36m, np.float32)
        h36m[:, SEEN_JOINTS] = seen[:, SEEN_JOINTS]
    centre = np.append(h36m[:, 0, :2].mean(axis=0), h36m[:, 0, 2].mean())
    floor = float(np.min(h36m[:, [3, 6], 2])) - 0.08
    rotation, position, focal, principal, size = sample_camera(rng, centre, ranges, floor)
    nearest = ((h36m[:, 0] - position) @ rotation[2]).min()
    if nearest < ranges.min_depth_m:  # the subject walks up to the camera: step back
        position = position - (ranges.min_depth_m - nearest) * rotation[2]
    framed = ranges.keep_in_frame and not (ranges.out_of_frame and rng.random() < ranges.out_of_frame)
    if framed:
        position = frame_subject(np.concatenate([h36m, coco], axis=1), rotation, position, focal,
                                 principal, size, centre, ranges.distance_m[1])
    cam_h36m = (h36m - position) @ rotation.T            # [T, 17, 3]
    cam_coco = (coco - position) @ rotation.T
    depth = np.maximum(cam_coco[..., 2:3], 0.3)
    pixels = focal * cam_coco[..., :2] / depth + principal  # [T, 17, 2]
    scores = np.ones(pixels.shape[:2])
    if noise is not None:
        pixels, scores = detector_errors(rng, pixels, noise, fps, size)
    points2d, _ = coco17_to_h36m(pixels, scores)
    return points2d, size, (cam_h36m - cam_h36m[:, :1]).astype(np.float32)


def synthesize(rng, h36m: np.ndarray, coco: np.ndarray, fps: float,
               ranges: CameraRanges = CameraRanges(), noise: DetectorNoise | None = DetectorNoise(),
               mirror: bool = False, bodies: BodyRanges | None = None, seen_targets: bool = False):
    """One training pair: (2D input [T, 17, 2] normalised screen coordinates, 3D target
    [T, 17, 3]), see :func:`film`."""
    from ...h36m import normalize_screen

    points2d, size, target = film(rng, h36m, coco, fps, ranges, noise, mirror, bodies,
                                  seen_targets)
    return normalize_screen(points2d.astype(np.float64), size).astype(np.float32), target


def detector_errors(rng, pixels: np.ndarray, noise: DetectorNoise, fps: float,
                     size: tuple[int, int] | None = None):
    """Jitter, drift, motion blur, guesses outside the picture (``size``), bad bursts, left/right
    leg swaps and undetected frames on pixels [T, 17, 2]."""
    frames, joints = pixels.shape[:2]
    height = max(np.ptp(pixels[..., 1], axis=1).mean(), 20.0)  # body height in pixels
    weight = np.ones(joints)
    weight[_EXTREMITY] = noise.extremity_factor
    weight[_MID_LIMB] = 0.5 * (1 + noise.extremity_factor)
    weight = weight[None, :, None]
    level = (np.exp(rng.uniform(*np.log(noise.white))) if noise.white_log_uniform
             else rng.uniform(*noise.white))
    white = rng.normal(0, level * height, pixels.shape)
    slow = _correlated_noise(rng, frames, joints, rng.uniform(*noise.slow) * height,
                             rng.uniform(*noise.slow_time_s), fps)
    out = pixels + weight * (white + slow)
    if noise.blur[1] > 0 and frames > 1:  # blur: a point's error grows with its image speed
        speed = np.linalg.norm(np.gradient(pixels, axis=0), axis=-1, keepdims=True)  # [T, J, 1]
        out = out + rng.uniform(*noise.blur) * speed * (30.0 / fps) * rng.normal(size=pixels.shape)
    off_frame = np.zeros((frames, joints), bool)
    if size is not None and noise.off_frame_error > 0:
        off_frame = ((pixels < 0) | (pixels > np.asarray(size))).any(axis=-1)   # [T, J]
        guess = _correlated_noise(rng, frames, joints, noise.off_frame_error * height, 0.3, fps)
        out = np.where(off_frame[..., None], out + weight * guess, out)
    bad = _bursts(rng, frames, noise.dropout_rate, (joints,))             # [T, J]
    offsets = rng.normal(0, noise.dropout_error * height, (joints, 2))
    out = np.where(bad[..., None], out + offsets, out)
    scores = np.where(bad, 0.1, np.where(off_frame, 0.3, 0.95))
    swap = np.flatnonzero(_bursts(rng, frames, noise.swap_rate))           # frames
    out[np.ix_(swap, [11, 12, 13, 14, 15, 16])] = out[np.ix_(swap, [12, 11, 14, 13, 16, 15])]
    missing = _bursts(rng, frames, noise.missing_rate)
    if missing.any() and not missing.all():
        # As at run time: undetected frames are interpolated between detections.
        good = np.flatnonzero(~missing)
        flat = out.reshape(frames, -1)
        for c in range(flat.shape[1]):
            flat[missing, c] = np.interp(np.flatnonzero(missing), good, flat[good, c])
    return out, scores


# --- the dataset ------------------------------------------------------------------------------------

@dataclass
class MocapWindows:
    """A map-style dataset (for torch's DataLoader) of synthetic (2D [T, 17, 2], 3D [T, 17, 3])
    windows. Item ``k`` of epoch ``e`` is always the same (seeded by seed, epoch and k), so runs
    and resumed runs see the same data; each epoch sees new cameras and noise."""

    clips: list[MocapClip]
    length: int
    windows_per_epoch: int
    seed: int = 0
    fps: float = TRAIN_FPS
    stretch: tuple[float, float] = (0.8, 1.25)   # playback speed: slower and faster motion
    noise: DetectorNoise | None = field(default_factory=DetectorNoise)
    ranges: CameraRanges = field(default_factory=CameraRanges)
    bodies: BodyRanges | None = None             # re-pose every window on a drawn body
    seen_targets: bool = False                   # targets' hips/shoulders where the detector sees them
    source_shares: dict[str, float] | None = None  # e.g. {"cmu": 0.2}: that share of the windows
    epoch: int = 0

    def __post_init__(self):
        if not self.clips:
            raise LiftRigError("no motion capture clips to train on")
        self._weights = clip_weights(self.clips, self.source_shares)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.windows_per_epoch

    def window(self, k: int):
        """The k-th pair as numpy arrays (2D, 3D), and the clip it was cut from."""
        rng = np.random.default_rng([self.seed, self.epoch, k])
        clip = self.clips[rng.choice(len(self.clips), p=self._weights)]
        speed = rng.uniform(*self.stretch)
        span = (self.length - 1) * speed
        start = rng.uniform(0, max(len(clip) - 1 - span, 0))
        times = np.clip(start + speed * np.arange(self.length), 0, len(clip) - 1)
        lo = np.floor(times).astype(int)
        hi = np.minimum(lo + 1, len(clip) - 1)
        w = (times - lo)[:, None, None]
        h36m = (1 - w) * clip.h36m[lo] + w * clip.h36m[hi]
        coco = (1 - w) * clip.coco[lo] + w * clip.coco[hi]
        x, y = synthesize(rng, h36m, coco, self.fps, self.ranges, self.noise,
                          mirror=bool(rng.integers(2)), bodies=self.bodies,
                          seen_targets=self.seen_targets)
        return x, y, clip

    def __getitem__(self, k: int):
        import torch

        x, y, _ = self.window(k)
        return torch.from_numpy(x), torch.from_numpy(y)


def clip_weights(clips: list[MocapClip], source_shares: dict[str, float] | None = None
                 ) -> np.ndarray:
    """How often each clip is drawn: by its length, so every frame is as likely as any other;
    with ``source_shares`` ({source: share}), the sources named get that share of all windows
    (still by length within the source), the others share the rest by length. A small source
    of unusual motion (CMU's dance and martial arts, 4 % of the frames) is otherwise rarely seen."""
    lengths = np.array([len(c) for c in clips], np.float64)
    sources = np.array([c.source for c in clips])
    shares = dict(source_shares or {})
    unknown = sorted(set(shares) - set(sources))
    if unknown or any(not 0 <= v < 1 for v in shares.values()) or sum(shares.values()) >= 1:
        raise LiftRigError(f"data.source_shares = {shares}: expected shares in [0, 1) summing to "
                           f"under 1, of the sources {sorted(set(sources))}")
    weights = np.empty_like(lengths)
    rest = ~np.isin(sources, list(shares))
    for source, share in shares.items():
        mine = sources == source
        weights[mine] = share * lengths[mine] / lengths[mine].sum()
    if rest.any():
        weights[rest] = (1 - sum(shares.values())) * lengths[rest] / lengths[rest].sum()
    return weights / weights.sum()


def validation_sequences(clips: list[MocapClip], length: int, count: int, seed: int = 12345,
                         ranges: CameraRanges = CameraRanges(), **synthesis):
    """Fixed synthetic validation windows as :class:`~.h36m.Sequence` objects (the group as the
    'subject', the clip as the 'action'), so the training package's evaluation runs on them.
    ``synthesis``: :class:`MocapWindows` fields (noise, bodies, seen_targets)."""
    from .h36m import Sequence

    windows = MocapWindows(clips, length, count, seed=seed, stretch=(1.0, 1.0), ranges=ranges,
                           **synthesis)
    sequences = []
    for k in range(count):
        x, y, clip = windows.window(k)
        sequences.append(Sequence(subject=clip.group, action=clip.name, camera=k,
                                  pose2d=x, pose3d=y))
    return sequences


def mocap_data(cfg: dict, num_frames: int):
    """The recipe's synthetic training set and fixed validation sequences (``data.dataset =
    "mocap"``): archives from ``data.root``, cached under ``data.cache`` (default: the user cache)."""
    from ...paths import cache_dir

    data, train = cfg["data"], cfg["train"]
    cache = Path(data["cache"]).expanduser() if data.get("cache") else cache_dir()
    clips = load_clips(prepare(Path(data["root"]), cache))
    train_clips, val_clips = split_clips(clips, float(data["val_fraction"]))
    synthesis = synthesis_options(data)
    train_set = MocapWindows(train_clips, num_frames, int(data["windows_per_epoch"]),
                             seed=int(train["seed"]), source_shares=data["source_shares"] or None,
                             **synthesis)
    val = (validation_sequences(val_clips, num_frames, int(data["val_windows"]), **synthesis)
           if val_clips else [])
    return train_set, val


CAMERAS = {"studio": CameraRanges(), "everyday": EVERYDAY_CAMERAS}
# data.detector: "auto" is real_body for drawn bodies, else studio (what stages 1-5 saw).
DETECTORS = {"studio": DetectorNoise(), "real_body": REAL_BODY_DETECTOR,
             "everyday": EVERYDAY_DETECTOR}


def synthesis_options(data: dict) -> dict:
    """A recipe's ``[data]`` -> :class:`MocapWindows` fields: ``cameras`` (studio | everyday),
    ``keep_in_frame``, ``bodies`` (drawn adult bodies, with the detector's offsets for them),
    ``detector`` (:data:`DETECTORS`) and ``seen_targets``."""
    if data["cameras"] not in CAMERAS:
        raise LiftRigError(f"data.cameras = {data['cameras']!r}: expected one of {sorted(CAMERAS)}")
    ranges = dataclasses.replace(CAMERAS[data["cameras"]], keep_in_frame=bool(data["keep_in_frame"]))
    bodies = BodyRanges() if data["bodies"] else None
    detector = data.get("detector", "auto")
    if detector == "auto":
        detector = "real_body" if bodies else "studio"
    if detector not in DETECTORS:
        raise LiftRigError(f"data.detector = {detector!r}: expected auto or one of "
                           f"{sorted(DETECTORS)}")
    return {"ranges": ranges, "bodies": bodies, "noise": DETECTORS[detector],
            "seen_targets": bool(data["seen_targets"])}
