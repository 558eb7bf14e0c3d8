# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared test fixtures: the real footage, models and mocap in ../shared (beside the repo, as in CI)."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIFTRIG_SHARED", ROOT.parent / "shared"))
POSE_MODEL = SHARED / "models" / "pose_landmarker_full.task"
VIDEOS = {
    "outdoor": SHARED / "videos" / "outdoor-two-people-30fps.mp4",
    "lab": SHARED / "videos" / "lab-two-people-60fps.mp4",
}


def ctrl_c_as_a_terminal_has_it() -> None:
    """``preexec_fn`` for a child that a test interrupts: Ctrl+C's default action, whatever this
    process inherited (a shell starts background jobs with SIGINT ignored, and children keep
    that)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def shared_path(*parts) -> Path:
    """A file under ../shared; a missing one fails the test loudly (CI always has shared/)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared beside the repository")
    return path


CACHE = Path(os.environ.get("LIFTRIG_CACHE", Path.home() / ".cache" / "liftrig")) / "shared"


def extract_from_shared(archive: str, *members: str) -> dict[str, Path]:
    """Files of a ../shared/data archive, extracted once to a cache outside the repo
    (~/.cache/liftrig/shared/ARCHIVE/..., or $LIFTRIG_CACHE): {member: path}.

    Members early in an archive come out fast (a .tar.xz is read from its start).
    """
    import tarfile
    import tempfile

    src = shared_path("data", archive)
    root = CACHE / archive.split(".")[0]
    out = {m: root / m for m in members}
    wanted = {m for m, p in out.items() if not p.is_file()}
    if wanted:
        with tarfile.open(src, "r:*") as tf:
            for info in tf:
                if info.name in wanted:
                    dest = out[info.name]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
                    with os.fdopen(fd, "wb") as f:
                        f.write(tf.extractfile(info).read())
                    os.replace(tmp, dest)
                    wanted.discard(info.name)
                    if not wanted:
                        break
        if wanted:
            pytest.fail(f"{src} lacks {sorted(wanted)}")
    return out


BANDAI_WALK = "dataset/Bandai-Namco-Research-Motiondataset-1/data/dataset-1_walk_normal_001.bvh"


@pytest.fixture(scope="session")
def bandai_walk() -> Path:
    """A real Bandai Namco walk (30 fps, CC BY-NC 4.0) from ../shared/data."""
    return extract_from_shared("bandai-namco-motion-bvh.tar.xz", BANDAI_WALK)[BANDAI_WALK]


@pytest.fixture(scope="session")
def cmu_clips() -> dict[str, Path]:
    """CMU's rest skeleton and a salsa clip (cmuconvert skeleton) from ../shared/data."""
    names = ("train_data_bvh/standard.bvh", "train_data_bvh/salsa/01.bvh")
    found = extract_from_shared("cmu-dance-martial-bvh.tar.xz", *names)
    return {"standard": found[names[0]], "salsa": found[names[1]]}


@pytest.fixture(scope="session")
def film():
    """A function that films world points [F, 17, 3] (metres, Z up) with a virtual pinhole
    camera and returns what the 2D stage and the lifter would give for them, exactly:
    (Keypoints2D, root-relative camera-space joints [F, 17, 3], camera-space points,
    camera rotation [3, 3] with rows x right / y down / z forward in the world, its position)."""
    import numpy as np

    from liftrig.formats import Keypoints2D
    from liftrig.retarget.root_path import PinholeCamera, look_at_rotation

    def shoot(world, fps, position, target, roll_deg=0.0, size=(1920, 1080), fov_deg=60.0):
        position = np.asarray(position, float)
        rotation = look_at_rotation(position, target, roll_deg)
        cam = (world - position) @ rotation.T
        pixels = PinholeCamera.from_fov(size, fov_deg).project(cam)
        frames = len(world)
        kp = Keypoints2D(keypoints=pixels, scores=np.ones(pixels.shape[:2]),
                         valid=np.ones(frames, bool), fps=fps, size=size,
                         frame_index=np.arange(frames))
        return kp, cam - cam[:, :1], cam, rotation, position

    return shoot


@pytest.fixture(scope="session")
def walk_joints_file(bandai_walk, film, tmp_path_factory):
    """A keypoints file with joints3d, as `liftrig lift` writes it, from a real walk (120
    frames filmed exactly, the joints the mocap's own)."""
    import numpy as np

    from liftrig.retarget.bvh import read_bvh
    from liftrig.retarget.mocap_map import mocap_to_h36m

    motion = read_bvh(bandai_walk)
    world = mocap_to_h36m(motion)[:120]
    mid = world[:, 0].mean(axis=0)
    kp, rel, _, _, _ = film(world, motion.fps, mid + [6.0, -2.0, 0.6], mid)
    path = tmp_path_factory.mktemp("clip") / "walk.npz"
    kp.save(path, joints3d=rel.astype(np.float32))
    return path
