"""`ssamt serve` in a real browser: Debian's `chromium` driven by Playwright for Python.

Starts the server on a free port in a subprocess, types a query, sees results, toggles the
order, opens an explanation and saves a screenshot (SSAMT_SCREENSHOT=path keeps it, e.g. for
the README). Fails on any console error or uncaught page error. Skipped, with the reason,
where the playwright package or a chromium binary is missing (`apt-get install chromium`;
Playwright's own browser download needs the internet).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("faiss")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = next((p for p in (os.environ.get("SSAMT_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install "
                                                         "chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("spacy")
    from _gallery import make_gallery

    g = make_gallery(tmp_path_factory.mktemp("browser"))
    port = _free_port()
    src = str(Path(__file__).parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "ssamt", "serve", "--index", str(g["index"]),
                             "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stdout.read()}")
            try:
                urllib.request.urlopen(url + "/api/info", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail("server did not answer within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_search_toggle_explain_in_chromium(server, tmp_path):
    errors: list[str] = []
    shot = Path(os.environ.get("SSAMT_SCREENSHOT") or tmp_path / "serve.png")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server)
        page.wait_for_selector("#info:not(:empty)")
        page.fill("#q", "a black dog next to a red car")
        page.click("#go")
        page.wait_for_selector(".card.result")
        assert page.locator(".card.result").count() == 10
        assert page.locator(".card.result svg, .card.result img").count() == 10
        first_reranked = page.locator(".card.result .muted").first.inner_text()
        page.click("#toggle")
        assert page.inner_text("#toggle") == "dual encoder (stage 1)"
        ranks = page.locator(".card.result .rank").all_inner_texts()
        assert ranks == [f"#{r}" for r in range(1, 11)]
        page.click("#toggle")
        assert page.locator(".card.result .muted").first.inner_text() == first_reranked
        page.locator("button.why").first.click()
        page.wait_for_selector("#explain:not([hidden]) .chip")
        assert page.locator("#explain .words .chip").count() >= 3
        page.screenshot(path=str(shot), full_page=True)
        # image -> captions
        page.click("#explain-close")
        page.select_option("#mode", "image")
        page.fill("#q", "synth-testall-000002")
        page.click("#go")
        page.wait_for_selector("#query-image .card")
        assert page.locator(".card.result").count() == 10
        assert not errors, errors
        # A bad id shows an error line; the browser logs only the API's 404 for it.
        page.fill("#q", "no-such-image")
        page.click("#go")
        page.wait_for_selector("#error:not([hidden])")
        assert "unknown image id" in page.inner_text("#error")
        browser.close()
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert all("404" in e for e in errors), errors
