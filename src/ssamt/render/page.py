"""The explanation page of one image of a split (ssamt explain --html, the web app)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ssamt.render.explain_html import explanation_html
from ssamt.render.pictures import Picture, picture_html


def explanation_page(expl: Any, title: Sequence[str], pic: Picture) -> str:
    """The HTML of `expl` (an ssamt.pipelines.explain.Explanation) of the image whose
    Picture is `pic` (ssamt.render.pictures.picture, made at most PAGE_SIDE pixels)."""
    return explanation_html(expl, title, picture_html(pic), pic.captions, pic.relations)
