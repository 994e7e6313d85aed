"""`ssamt serve` on a photo gallery whose ids, {split}_photos.json and links name files it
must not show: paths out of the photos folder (".." and absolute), a photos root of "/" or
an "/etc"-like folder, links out of the folder and out of thumbs/, files that are not
pictures, a FIFO and a link loop. None of them is ever sent (a 404 naming no path, an
explanation page with a "no picture" box, one console line per image), while an id with a
"/" still loads; and two Ctrl-C in a row stop the server with one line, no traceback.

Every file is made here (a secret outside the gallery, never /etc), and the gallery is the
tiny synthetic split turned into a photo gallery: no scenes, photo ids, a photos folder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

import pytest
import torch

pytest.importorskip("faiss")
pytest.importorskip("fastapi")
pytest.importorskip("httpx")
Image = pytest.importorskip("PIL.Image")

SECRET = b"root:x:0:0:SECRET-7f3a9c:/root:/bin/bash\n"  # what /etc/passwd would leak
VALID = ("cat.png", "sub/cat2.png")  # the photos inside the folder
FROM_IMAGES_ROOT = "coco-12"  # found under --images-root as coco-12.jpg


def _picture(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _case_ids(root: Path) -> dict[str, str]:
    """What each image of the gallery holds, by id; the ids of one image per case."""
    outside = root / "outside"
    return {
        "cat.png": "valid", "sub/cat2.png": "valid",
        "../outside/secret.png": "outside via ..", "../outside/secret.txt": "outside via ..",
        str(outside / "secret.txt"): "absolute path",
        "link.png": "link out of the folder", "link-text.png": "link out of the folder",
        "x.jpg": "not a picture", "thumbed.png": "thumbs/ link to a non-image",
        "thumb-out.png": "thumbs/ link out of thumbs/", "passwd": "root is an etc folder",
        str((outside / "secret.txt").relative_to("/")): "root is /",
        FROM_IMAGES_ROOT: "valid", "coco-13": "not a picture", "coco-14": "link out",
        "fifo.png": "a FIFO", "loop.png": "a link loop"}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    pytest.importorskip("spacy")
    import faiss
    from _gallery import make_gallery

    from ssamt.render.pictures import thumb_path
    from ssamt.search import build_index

    threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("serve_files")
    g = make_gallery(root, index=False)
    data, folder, outside = g["data"], root / "photos", root / "outside"
    (data / "test_scenes.jsonl").unlink()  # a photo gallery draws no scenes
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    _picture(outside / "secret.png", (40, 40), (0, 0, 255))  # a picture, not the gallery's
    _picture(folder / "cat.png", (300, 200), (200, 120, 40))
    _picture(folder / "sub" / "cat2.png", (90, 120), (20, 160, 60))
    (folder / "link.png").symlink_to(outside / "secret.png")
    (folder / "link-text.png").symlink_to(outside / "secret.txt")
    (folder / "x.jpg").write_bytes(SECRET)
    os.mkfifo(folder / "fifo.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    etc = root / "etc"  # stands for /etc: a photos root that holds a passwd file
    etc.mkdir()
    (etc / "passwd").write_bytes(SECRET)
    images_root = root / "images"
    _picture(images_root / f"{FROM_IMAGES_ROOT}.jpg", (1500, 900), (250, 250, 0))
    (images_root / "coco-13.jpg").write_bytes(SECRET)
    (images_root / "coco-14.jpg").symlink_to(outside / "secret.png")

    cases = _case_ids(root)
    ids = list(cases) + [f"missing-{n:03d}.png" for n in range(len(cases), 100)]
    (data / "test_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    (data / "test_photos.json").write_text(json.dumps({"root": str(folder)}))
    manifest = build_index(g["run"], data, root / "index", split="test")
    thumbs = root / "index" / "thumbs"
    written = sorted(p.name for p in thumbs.iterdir())
    thumb_path(thumbs, ids.index("thumbed.png")).symlink_to(outside / "secret.txt")
    thumb_path(thumbs, ids.index("thumb-out.png")).symlink_to(outside / "secret.png")
    yield {"root": root, "data": data, "index": root / "index", "ids": ids, "cases": cases,
           "images_root": images_root, "etc": etc, "outside": outside, "manifest": manifest,
           "written_thumbs": written}
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(faiss_threads)


@pytest.fixture(scope="module")
def searcher(photos):
    from ssamt.search import Searcher

    return Searcher.open(photos["index"])


@pytest.fixture()
def client(photos, searcher):
    """A server of its own per test, so what its console says once is said in that test."""
    from fastapi.testclient import TestClient

    from ssamt.serve.app import Gallery, create_app

    with TestClient(create_app(Gallery(searcher, photos["images_root"]))) as c:
        yield c


def _url(image_id: str, picture: bool = True) -> str:
    quoted = urllib.parse.quote(image_id, safe="")  # as app.js's encodeURIComponent
    return f"/api/images/{quoted}/picture" if picture else f"/api/images/{quoted}"


def _leaks(photos, body: bytes) -> list[str]:
    """What of the secret or of the file system a response body shows."""
    found = []
    for what, text in (("the secret", SECRET), ("the secret's first bytes", SECRET[:12]),
                       ("a tmp path", str(photos["root"]).encode()), ("/etc", b"/etc")):
        if text in body:
            found.append(what)
    return found


@contextmanager
def _photos_root(photos, root: str):
    """The gallery's {split}_photos.json naming another root for a while."""
    manifest = photos["data"] / "test_photos.json"
    saved = manifest.read_text()
    manifest.write_text(json.dumps({"root": root}))
    try:
        yield
    finally:
        manifest.write_text(saved)


def test_thumbnails_only_of_pictures_inside_the_folder(photos):
    ids = photos["ids"]
    assert photos["manifest"]["thumbnails"] == 2
    assert photos["written_thumbs"] == [f"{ids.index(i):06d}.jpg" for i in VALID]


@pytest.mark.parametrize("case, said", [
    ("../outside/secret.png", True), ("../outside/secret.txt", True), ("absolute", True),
    ("link.png", True), ("link-text.png", True), ("x.jpg", True), ("thumbed.png", True),
    ("thumb-out.png", True), ("coco-13", True), ("fifo.png", True), ("loop.png", True),
    ("coco-14", False)])  # find_image_file never looks out of --images-root: nothing to say
def test_refused_files_are_a_404_that_names_no_path(photos, client, capsys, case, said):
    image_id = str(photos["outside"] / "secret.txt") if case == "absolute" else case
    for _ in range(3):  # the console says it once, however often it is asked
        response = client.get(_url(image_id))
        assert response.status_code == 404, case
        assert not _leaks(photos, response.content), case
        assert "/" not in response.json()["detail"]
    info = client.get(_url(image_id, picture=False))
    assert info.status_code == 200 and info.json()["picture"] == "none"
    page = client.get("/api/explain/page", params={"image": image_id, "caption": 0})
    assert page.status_code == 200 and 'class="noimage"' in page.text
    assert "data:image" not in page.text and SECRET[:12] not in page.content
    folder = str(photos["root"] / "photos")  # (an id may itself be a path: it is shown)
    assert folder not in page.text
    err = capsys.readouterr().err
    line = f"ssamt serve: image {image_id!r}: not a readable picture"
    assert err.count(line) == (1 if said else 0), err
    assert "Traceback" not in err and folder not in err


@pytest.mark.parametrize("root, image_id", [
    ("etc", "passwd"), ("/", "outside/secret.txt"), ("/", "absolute")])
def test_a_photos_root_of_etc_or_slash_shows_no_file_that_is_not_a_picture(
        photos, client, root, image_id):
    root = str(photos["etc"]) if root == "etc" else root
    if image_id == "outside/secret.txt":  # the secret's path under "/", as "etc/passwd"
        image_id = str((photos["outside"] / "secret.txt").relative_to("/"))
    elif image_id == "absolute":
        image_id = str(photos["outside"] / "secret.txt")
    with _photos_root(photos, root):
        response = client.get(_url(image_id))
        assert response.status_code == 404 and not _leaks(photos, response.content)
        assert client.get(_url(image_id, picture=False)).json()["picture"] == "none"
        page = client.get("/api/explain/page", params={"image": image_id, "caption": 0})
        assert page.status_code == 200 and 'class="noimage"' in page.text
        assert SECRET[:12] not in page.content


@pytest.mark.parametrize("image_id", [*VALID, FROM_IMAGES_ROOT])
def test_pictures_inside_the_folder_load_even_with_a_slash(photos, client, image_id):
    info = client.get(_url(image_id, picture=False))
    assert info.status_code == 200 and info.json()["picture"] == "file"
    response = client.get(_url(image_id))
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    with Image.open(BytesIO(response.content)) as im:
        assert im.format == "JPEG" and max(im.size) <= 1024
        if image_id == FROM_IMAGES_ROOT:
            assert im.size == (1024, 614)  # redrawn at a bounded size, not the 1500 x 900 file
    page = client.get("/api/explain/page", params={"image": image_id, "caption": 0})
    assert page.status_code == 200 and "data:image/jpeg;base64," in page.text


def test_picture_kind_is_what_the_route_serves(photos, client):
    for image_id in photos["ids"]:
        kind = client.get(_url(image_id, picture=False)).json()["picture"]
        served = client.get(_url(image_id)).status_code
        assert (kind, served) in (("file", 200), ("none", 404)), image_id
    hits = client.get("/api/search/text", params={"q": "a red car", "k": 100}).json()
    kinds = {hit["id"]: hit["picture"] for hit in hits["results"]}
    assert {i for i, kind in kinds.items() if kind == "file"} == {*VALID, FROM_IMAGES_ROOT}


def test_log_filter_drops_only_the_shutdown_tracebacks():
    import asyncio
    import logging

    from ssamt.commands.serve import keep_log_record

    def record(msg: str, exc: BaseException | None = None) -> logging.LogRecord:
        info = (type(exc), exc, None) if exc is not None else None
        return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, msg, None, info)

    lifespan = "Traceback (most recent call last):\n  ...\nasyncio.exceptions.CancelledError\n"
    assert not keep_log_record(record(lifespan))
    assert not keep_log_record(record("Exception in ASGI application", asyncio.CancelledError()))
    assert keep_log_record(record("Exception in ASGI application", ValueError("a bug")))
    assert keep_log_record(record("[Errno 98] address already in use"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ctrl_c_as_in_a_terminal() -> None:
    """In the server's process before it starts: Ctrl-C raises KeyboardInterrupt, even when
    the tests themselves run where SIGINT is ignored (a background job)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_two_ctrl_c_stop_the_server_with_one_line(photos):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    server = subprocess.Popen(
        [sys.executable, "-m", "ssamt", "serve", "--index", str(photos["index"]), "--port",
         str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_ctrl_c_as_in_a_terminal)  # noqa: PLW1509 (it only sets a signal)
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(base + "/api/info", timeout=1)
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.25)
        for _ in range(2):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(base + _url("x.jpg"), timeout=30)

        def slow_request(path: str) -> None:  # in flight when the second Ctrl-C forces the stop
            try:
                urllib.request.urlopen(base + path, timeout=60).read()
            except OSError:
                pass

        # the first explanation measures the run's part levels: seconds, not milliseconds
        for path in ("/api/explain?image=cat.png&caption=0",
                     "/api/search/text?q=a+red+car&k=100&rerank_k=256"):
            threading.Thread(target=slow_request, args=(path,), daemon=True).start()
        time.sleep(0.1)
        server.send_signal(signal.SIGINT)
        time.sleep(0.05)
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert "Traceback" not in out and "CancelledError" not in out, out
    assert out.count("ssamt serve: image 'x.jpg': not a readable picture") == 1, out
    assert out.rstrip().splitlines()[-1] == "ssamt serve: stopped" and server.returncode == 0
