"""`ssamt serve`: every API route through FastAPI's TestClient (results as the Searcher's,
validation, 404s, no path traversal), the static page, and the port check."""

from __future__ import annotations

import socket

import pytest
import torch

pytest.importorskip("faiss")
pytest.importorskip("fastapi")
pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    pytest.importorskip("spacy")
    import faiss
    from _gallery import make_gallery

    threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    g = make_gallery(tmp_path_factory.mktemp("serve"))
    yield g
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(faiss_threads)


@pytest.fixture(scope="module")
def client(gallery):
    from fastapi.testclient import TestClient

    from ssamt.search import Searcher
    from ssamt.serve.app import Gallery, create_app

    searcher = Searcher.open(gallery["index"])
    with TestClient(create_app(Gallery(searcher))) as c:
        c.searcher = searcher
        yield c


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "<form id=\"search\"" in page.text
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").status_code == 200
    for bad in ("../app.py", "..%2Fapp.py", "%2e%2e%2f%2e%2e%2fmanifest.json", "index.html",
                "nope.js"):
        assert client.get(f"/static/{bad}").status_code == 404
    assert client.get("/openapi.json").json()["paths"].keys() >= {
        "/api/search/text", "/api/search/image", "/api/explain", "/api/info"}


def test_info(client):
    info = client.get("/api/info").json()
    assert info["num_images"] == 100 and info["synthetic"] and info["kind"] == "flat"
    assert info["example_id"] == "synth-testall-000000"


def test_text_search_matches_searcher(client):
    body = client.get("/api/search/text", params={"q": "a red car", "k": 5,
                                                  "rerank_k": 4}).json()
    direct = client.searcher.text("a red car", k=5, rerank_k=4).to_json()
    assert [r["id"] for r in body["results"]] == [r["id"] for r in direct["results"]]
    assert [r["id"] for r in body["stage1_results"]] == [r["id"] for r in direct["stage1_results"]]
    assert [r["stage1_rank"] for r in body["stage1_results"]] == [1, 2, 3, 4, 5]
    assert all(r["picture"] == "svg" for r in body["results"])


def test_image_search_and_image_routes(client):
    body = client.get("/api/search/image", params={"id": "synth-testall-000004", "k": 3}).json()
    assert body["mode"] == "image" and len(body["results"]) == 3
    assert body["image"]["index"] == 4 and len(body["image"]["captions"]) == 5
    image = client.get("/api/images/synth-testall-000004").json()
    assert image["caption_lines"] == [20, 21, 22, 23, 24]
    svg = client.get("/api/images/synth-testall-000004/picture")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")


def test_explain_routes(client):
    body = client.get("/api/explain", params={"image": "synth-testall-000001",
                                              "caption": 5}).json()
    assert body["positive_pair"] is True and body["image"]["index"] == 1
    assert sum(t["value"] for t in body["eq5_terms"]) == pytest.approx(body["scores"]["eq5"],
                                                                      abs=1e-5)
    assert all(p["colour"].startswith(("hsl", "#")) for p in body["parts"])
    text = client.get("/api/explain", params={"image": "synth-testall-000001",
                                              "text": "a small dog"}).json()
    assert text["positive_pair"] is None and text["caption"] == "a small dog"
    page = client.get("/api/explain/page", params={"image": "synth-testall-000001",
                                                   "caption": 40})
    assert page.status_code == 200 and "<svg" in page.text and "Eq. 5" in page.text


@pytest.mark.parametrize("path, params, status, message", [
    ("/api/search/text", {"q": ""}, 422, None),
    ("/api/search/text", {"q": "x" * 1001}, 422, None),
    ("/api/search/text", {"q": "dog", "k": 0}, 422, None),
    ("/api/search/text", {"q": "dog", "k": 101}, 422, None),
    ("/api/search/text", {"q": "dog", "rerank_k": -1}, 422, None),
    ("/api/search/text", {"q": "dog", "rerank_k": 257}, 422, None),
    ("/api/search/text", {"q": "dog", "k": "ten"}, 422, None),
    ("/api/search/text", {"q": "   "}, 400, "the query is empty"),
    ("/api/search/text", {"q": "zzqx ..."}, 400, "in the model's vocabulary"),
    ("/api/search/text", {}, 422, None),
    ("/api/search/image", {"id": "nope"}, 404, "unknown image id"),
    ("/api/images/nope", {}, 404, "unknown image id"),
    ("/api/images/..%2F..%2Fetc%2Fpasswd/picture", {}, 404, None),
    ("/api/explain", {"image": "synth-testall-000001", "caption": 500}, 404, "unknown caption"),
    ("/api/explain", {"image": "synth-testall-000001"}, 422, "either text or caption"),
    ("/api/explain", {"image": "synth-testall-000001", "caption": 1, "text": "a"}, 422, None),
    ("/api/explain", {"image": "x", "caption": 1}, 404, "unknown image id"),
    ("/api/explain/page", {"image": "synth-testall-000001", "caption": -1}, 422, None),
])
def test_bad_input(client, path, params, status, message):
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    if message:
        assert message in response.json()["detail"]


def test_port_taken_is_one_line(gallery, capsys):
    from ssamt.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc = main(["serve", "--index", str(gallery["index"]), "--port", str(port)])
    err = capsys.readouterr().err
    assert rc == 2 and f"port {port} on 127.0.0.1 is already in use" in err
    assert err.count("\n") == 1
    assert main(["serve", "--index", str(gallery["index"]), "--port", "70000"]) == 2
    assert "--port must be in 1..65535" in capsys.readouterr().err


def test_port_just_left_by_a_server_is_free():
    from ssamt.commands.serve import check_port

    with socket.socket() as listener:  # a server as uvicorn makes one, stopped with a client
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            served, _ = listener.accept()
            served.close()  # the server closes first: its side waits in TIME_WAIT
    check_port("127.0.0.1", port)  # a restart may listen there at once


def test_serve_bad_index_and_images_root(gallery, tmp_path, capsys):
    from ssamt.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    assert main(["serve", "--index", str(tmp_path / "none"), "--port", port]) == 2
    err = capsys.readouterr().err
    assert "index folder not found" in err and err.count("\n") == 1
    assert main(["serve", "--index", str(gallery["index"]), "--port", port,
                 "--images-root", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "--images-root" in err and "is not a folder" in err
    assert main(["serve", "--index", str(gallery["index"]), "--port", port,
                 "--host", "no-such-host.invalid"]) == 2
    assert "--host no-such-host.invalid" in capsys.readouterr().err


def test_a_running_search_does_not_hold_up_other_routes(gallery, monkeypatch):
    """Searches run in the server's worker threads: while one is busy (held here for 0.5 s),
    /api/info answers at once, because the routes are plain functions (an `async def`
    route would run the model on the event loop and every request would wait for it)."""
    import asyncio
    import time

    import httpx

    from ssamt.search import Searcher
    from ssamt.serve.app import Gallery, create_app

    searcher = Searcher.open(gallery["index"])
    text = searcher.text

    def slow_text(*args, **kwargs):
        time.sleep(0.5)
        return text(*args, **kwargs)

    monkeypatch.setattr(searcher, "text", slow_text)
    app = create_app(Gallery(searcher))

    async def both() -> tuple[float, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            t0 = time.perf_counter()

            async def timed(path: str, **params) -> float:
                response = await c.get(path, params=params)
                assert response.status_code == 200
                return time.perf_counter() - t0

            search = asyncio.create_task(timed("/api/search/text", q="a red car", k=3))
            await asyncio.sleep(0.1)  # the search is inside its 0.5 s
            info = await timed("/api/info")
            return info, await search

    info_s, search_s = asyncio.run(both())
    assert search_s >= 0.5 and info_s < search_s - 0.2
