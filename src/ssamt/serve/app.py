"""The FastAPI app of `ssamt serve`: a JSON API under /api/ (documented at /docs) and the
static page that uses it.

Every input is validated before it reaches the model: query length and k / rerank-k bounds
(422), unknown image ids or captions (404), queries the parser finds no words in (400). No
route takes a file path: the static files are a fixed set of names, and a picture is what
ssamt.render.pictures.load_picture draws from an image's file inside the gallery's folders
(thumbs/, the photos folder, --images-root), never a file's own bytes. A file it refuses is
a 404 that names no path, and one line on the server's console.
"""

from __future__ import annotations

import sys
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from ssamt.errors import DataError, SsamtError
from ssamt.render.explain_html import eq5_terms, score_colour
from ssamt.render.page import explanation_page
from ssamt.render.pictures import PAGE_SIDE, SERVED_SIDE, Picture, picture
from ssamt.render.scene_svg import scenes_path
from ssamt.search.explain import explain_hit
from ssamt.search.searcher import MAX_QUERY_CHARS

MAX_K, MAX_RERANK_K = 100, 256
PROBE_SIDE = 64  # picture_kind decodes at this size: a check, not a picture anyone sees
NO_PICTURE = ("this image has no picture to show (for COCO or Flickr30K, start the server "
              "with --images-root DIR)")
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}


def _static(name: str) -> str:
    return resources.files("ssamt.serve").joinpath("static", name).read_text(encoding="utf-8")


class Gallery:
    """A Searcher plus what the page shows of its images. `lock`: one model call at a time,
    since the model, the parser and FAISS are shared by the server's worker threads; a
    second lock keeps each console line about a refused file to one per image."""

    def __init__(self, searcher: Any, images_root: str | Path | None = None) -> None:

        self.searcher = searcher
        self.images_root = images_root
        self.lock = threading.Lock()
        split = searcher.split
        self.synthetic = scenes_path(split.data_dir, split.split).is_file()
        self.thumbs = searcher.index_dir / "thumbs"
        self._reported: set[int] = set()
        self._console_lock = threading.Lock()
        self._console_open = True

    def picture(self, i: int, max_side: int) -> Picture:
        """The Picture of image i (ssamt.render.pictures.picture), at most `max_side` pixels.
        A file that is there but refused is said once on the console; its path stays there.
        So is a scenes file's entry that cannot be drawn: the image shows no picture."""

        try:
            pic = picture(self.searcher.split, i, self.images_root, self.thumbs, max_side)
        except DataError as exc:
            pic = Picture("none", self.searcher.image_id(i),
                          tuple(self.searcher.split.image_captions(i)), problem=str(exc))
        if pic.problem is not None:
            self._report(i, pic.problem)
        return pic

    def picture_kind(self, i: int) -> str:
        """svg, file or none: what the picture route will answer for image i, found by the
        same loader (a small decode, or a scene drawn, so search results can say it for
        every hit; a scene that cannot be drawn is none, as the route answers)."""
        return self.picture(i, PROBE_SIDE).kind

    def close_console(self) -> None:
        """No more console lines: the server has stopped, and a request still running in a
        worker thread finishes without writing after the server's last line."""
        with self._console_lock:
            self._console_open = False

    def _report(self, i: int, problem: str) -> None:
        with self._console_lock:
            if not self._console_open or i in self._reported:
                return
            self._reported.add(i)
            print(f"ssamt serve: image {self.searcher.image_id(i)!r}: not a readable picture "
                  f"({problem}; path hidden from clients)", file=sys.stderr, flush=True)

    def image_info(self, i: int) -> dict[str, Any]:
        s = self.searcher
        return {"id": s.image_id(i), "index": i, "captions": s.split.image_captions(i),
                "caption_lines": list(range(i * s.split.captions_per_image,
                                            (i + 1) * s.split.captions_per_image)),
                "picture": self.picture_kind(i)}


def create_app(gallery: Gallery) -> Any:
    """The FastAPI app over one gallery: JSON under /api/, the page at /."""
    from fastapi import FastAPI  # optional dependency

    app = FastAPI(title="ssamt search", version="1",
                  description="Image-text search with a trained SSAMT: stage 1 from FAISS, "
                              "stage 2 the inter encoder's Eq. 5 on the top rerank_k.")
    _add_search_routes(app, gallery)
    _add_explain_routes(app, gallery)
    _add_page_routes(app)
    return app


def _image_index(gallery: Gallery, image_id: str) -> int:
    """The gallery row of an image id; unknown -> 404."""
    from fastapi import HTTPException  # optional dependency

    try:
        return gallery.searcher.resolve_image(image_id)
    except SsamtError as exc:
        raise HTTPException(404, str(exc)) from None


def _guarded(gallery: Gallery, fn, *args, **kwargs):
    """One model call at a time; a refused input -> 400 with its one line."""
    from fastapi import HTTPException  # optional dependency

    with gallery.lock:
        try:
            return fn(*args, **kwargs)
        except SsamtError as exc:
            raise HTTPException(400, str(exc)) from None


def _add_search_routes(app: Any, gallery: Gallery) -> None:
    from fastapi import HTTPException, Query  # optional dependency
    from fastapi.responses import Response  # optional dependency

    searcher = gallery.searcher
    K = Query(10, ge=1, le=MAX_K, description=f"results, 1..{MAX_K}")
    RK = Query(32, ge=0, le=MAX_RERANK_K,
               description=f"candidates re-ranked with Eq. 5, 0..{MAX_RERANK_K}")

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        """The gallery: split, counts, index kind and Eq. 5 weights."""
        m = searcher.manifest
        return {"split": m["split"], "num_images": m["num_images"],
                "num_captions": m["num_captions"], "kind": m["kind"], "recall": m["recall"],
                "recipe": searcher.run.recipe, "mu1": searcher.mu1, "mu2": searcher.mu2,
                "synthetic": gallery.synthetic,
                "example_id": searcher.image_id(0), "max_k": MAX_K,
                "max_rerank_k": MAX_RERANK_K, "max_query_chars": MAX_QUERY_CHARS}

    @app.get("/api/search/text")
    def search_text(q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS,
                                   description="a caption to search images for"),
                    k: int = K, rerank_k: int = RK) -> dict[str, Any]:
        """Text -> images; `results` re-ranked, `stage1_results` the dual encoder's order."""
        out = _guarded(gallery, searcher.text, q, k=k, rerank_k=rerank_k).to_json()
        for hit in out["results"] + out["stage1_results"]:
            hit["picture"] = gallery.picture_kind(hit["index"])
        return out

    @app.get("/api/search/image")
    def search_image(id: str = Query(..., min_length=1, max_length=200,
                                     description="image id (ids.txt line, else index)"),
                     k: int = K, rerank_k: int = RK) -> dict[str, Any]:
        """Image -> captions of the gallery."""
        i = _image_index(gallery, id)
        out = _guarded(gallery, searcher.image, searcher.image_id(i), k=k, rerank_k=rerank_k).to_json()
        out["image"] = gallery.image_info(i)
        return out

    # The picture route first: with {image_id:path} (ids of `ssamt features` are paths such as
    # "sub/cat.png"), /api/images/sub/cat.png/picture would otherwise be read as an image id.
    @app.get("/api/images/{image_id:path}/picture", response_model=None)
    def picture(image_id: str) -> Response:
        """The image's picture: a synthetic scene as SVG, or a JPEG drawn from its file."""

        pic = gallery.picture(_image_index(gallery, image_id), SERVED_SIDE)
        if pic.kind == "svg":
            return Response(pic.svg, media_type="image/svg+xml")
        if pic.kind == "file":
            return Response(pic.jpeg, media_type="image/jpeg")
        raise HTTPException(404, NO_PICTURE)

    @app.get("/api/images/{image_id:path}")
    def image(image_id: str) -> dict[str, Any]:
        """One image: id, index, captions and what picture it has (svg, file or none)."""
        return gallery.image_info(_image_index(gallery, image_id))


def _add_explain_routes(app: Any, gallery: Gallery) -> None:
    from fastapi import HTTPException, Query  # optional dependency
    from fastapi.responses import HTMLResponse  # optional dependency

    searcher = gallery.searcher

    def explanation(image_id: str, text: str | None, caption: int | None):

        i = _image_index(gallery, image_id)
        if caption is not None and not 0 <= caption < searcher.split.num_captions:
            raise HTTPException(404, f"unknown caption {caption}")
        if (text is None) == (caption is None):
            raise HTTPException(422, "give either text or caption")
        return _guarded(gallery, explain_hit, searcher, searcher.image_id(i), text=text, caption=caption)

    T = Query(None, min_length=1, max_length=MAX_QUERY_CHARS, description="a caption")
    C = Query(None, ge=0, description="a caption line of the gallery")

    @app.get("/api/explain")
    def explain(image: str = Query(..., max_length=200), text: str | None = T,
                caption: int | None = C) -> dict[str, Any]:
        """Phrase-to-image scores of one image and a caption (text or caption line)."""

        expl, i, own = explanation(image, text, caption)
        out = expl.to_json()
        for part, p in zip(out["parts"], expl.parts):
            part["colour"] = score_colour(p.score)
        out["eq5_terms"] = [{"term": n, "value": v} for n, v in eq5_terms(expl)]
        return {"image": gallery.image_info(i), "caption_index": caption,
                "positive_pair": own, **out}

    @app.get("/api/explain/page", response_class=HTMLResponse)
    def explain_page(image: str = Query(..., max_length=200), text: str | None = T,
                     caption: int | None = C) -> str:
        """The same explanation as a self-contained page (as `ssamt explain --html`)."""

        expl, i, _ = explanation(image, text, caption)
        what = f"caption {caption}" if caption is not None else "your text"
        return explanation_page(expl, [f"image {searcher.image_id(i)}, {what}"],
                                gallery.picture(i, PAGE_SIDE))


def _add_page_routes(app: Any) -> None:
    from fastapi import HTTPException  # optional dependency
    from fastapi.responses import HTMLResponse, Response  # optional dependency

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return _static("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC:  # a fixed set: no path ever reaches the file system
            raise HTTPException(404, "not found")
        return Response(_static(name), media_type=STATIC[name])
