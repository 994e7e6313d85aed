"""Write the explanation page of image i of a split (ssamt explain --html)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ssamt.fileio import write_text
from ssamt.render.explain_html import explanation_html
from ssamt.render.pictures import PAGE_SIDE, Picture, picture, picture_html


def explanation_page(expl: Any, title: Sequence[str], pic: Picture) -> str:
    """The HTML of `expl` (an ssamt.pipelines.explain.Explanation) of the image whose
    Picture is `pic` (ssamt.render.pictures.picture, made at most PAGE_SIDE pixels)."""
    return explanation_html(expl, title, picture_html(pic), pic.captions, pic.relations)


def write_explanation_page(path: str | Path, expl: Any, title: Sequence[str], split: Any,
                           image: int, images_root: str | Path | None = None) -> None:
    pic = picture(split, image, images_root, max_side=PAGE_SIDE)
    write_text(path, explanation_page(expl, title, pic))
