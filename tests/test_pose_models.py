# SPDX-License-Identifier: GPL-3.0-or-later
"""Pose-model resolution and the real download code, against a local HTTP server on 127.0.0.1."""

import hashlib
import http.server
import threading

import pytest

from liftrig.errors import LiftRigError
from liftrig.detect import pose_models
from liftrig.detect.pose_models import download_file, resolve_pose_model

from conftest import POSE_MODEL, shared_path

MODEL_BYTES = shared_path("models", "pose_landmarker_full.task").read_bytes()
MODEL_SHA256 = hashlib.sha256(MODEL_BYTES).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves the shared model at /model.task, and a transfer cut in half at /cut.task."""

    def do_GET(self):
        if self.path not in ("/model.task", "/cut.task"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(MODEL_BYTES)))
        self.end_headers()
        if self.path == "/model.task":
            self.wfile.write(MODEL_BYTES)
        else:  # the connection drops halfway through
            self.wfile.write(MODEL_BYTES[: len(MODEL_BYTES) // 2])
            self.wfile.flush()
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_checks_the_hash_and_lands_atomically(server, tmp_path):
    dest = tmp_path / "models" / "pose.task"
    seen = []
    path = download_file(f"{server}/model.task", dest, MODEL_SHA256,
                         progress=lambda stage, done, total: seen.append((done, total)))
    assert path == dest and dest.read_bytes() == MODEL_BYTES
    assert seen[-1] == (len(MODEL_BYTES), len(MODEL_BYTES))
    assert sorted(p.name for p in dest.parent.iterdir()) == ["pose.task"]


def test_wrong_hash_leaves_nothing(server, tmp_path):
    dest = tmp_path / "pose.task"
    with pytest.raises(LiftRigError, match="SHA-256"):
        download_file(f"{server}/model.task", dest, "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_transfer_leaves_nothing(server, tmp_path):
    dest = tmp_path / "pose.task"
    with pytest.raises(LiftRigError, match="download"):
        download_file(f"{server}/cut.task", dest, MODEL_SHA256, timeout=10)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_on_server_is_a_clear_error(server, tmp_path):
    with pytest.raises(LiftRigError, match="Could not download"):
        download_file(f"{server}/absent.task", tmp_path / "x.task", MODEL_SHA256)
    assert list(tmp_path.iterdir()) == []


def test_only_https_except_loopback(tmp_path):
    with pytest.raises(LiftRigError, match="HTTPS"):
        download_file("http://example.com/model.task", tmp_path / "x.task", MODEL_SHA256)
    for spec in pose_models.POSE_MODELS.values():
        assert spec.url.startswith("https://") and len(spec.sha256) == 64


def test_resolution_order(server, tmp_path, monkeypatch):
    """Explicit path, then LIFTRIG_POSE_MODEL, then the cache, then a download into the cache."""
    monkeypatch.setenv("LIFTRIG_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LIFTRIG_POSE_MODEL", raising=False)
    monkeypatch.delenv("LIFTRIG_OFFLINE", raising=False)
    assert resolve_pose_model(str(POSE_MODEL)) == POSE_MODEL

    monkeypatch.setenv("LIFTRIG_POSE_MODEL", str(POSE_MODEL))
    assert resolve_pose_model("full") == POSE_MODEL
    monkeypatch.delenv("LIFTRIG_POSE_MODEL")

    # An official name downloads into the cache; here its address points at the local server.
    local = pose_models.PoseModelSpec("full", f"{server}/model.task", MODEL_SHA256)
    monkeypatch.setitem(pose_models.POSE_MODELS, "full", local)
    cached = resolve_pose_model("full")
    assert cached == tmp_path / "cache" / "models" / "model.task"
    assert cached.read_bytes() == MODEL_BYTES

    # Once cached, nothing is downloaded (the server address is now unusable).
    monkeypatch.setitem(pose_models.POSE_MODELS, "full",
                        pose_models.PoseModelSpec("full", "http://127.0.0.1:9/model.task", "0" * 64))
    assert resolve_pose_model("full") == cached


def test_offline_without_cache_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFTRIG_CACHE", str(tmp_path))
    monkeypatch.setenv("LIFTRIG_OFFLINE", "1")
    monkeypatch.delenv("LIFTRIG_POSE_MODEL", raising=False)
    with pytest.raises(LiftRigError, match="--pose-model PATH"):
        resolve_pose_model("heavy")
    with pytest.raises(LiftRigError, match="neither a model name"):
        resolve_pose_model(str(tmp_path / "missing.task"))
