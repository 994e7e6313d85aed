"""Write the explanation page of image i of a split (ssamt explain --html)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ssamt.fileio import write_text
from ssamt.render.explain_html import explanation_html
from ssamt.render.pictures import picture, picture_html


def explanation_page(expl: Any, title: Sequence[str], split: Any, image: int,
                     images_root: str | Path | None = None,
                     thumbs: str | Path | None = None) -> str:
    """The HTML of `expl` (an ssamt.pipelines.explain.Explanation of image `image` of `split`)."""
    pic = picture(split, image, images_root, thumbs)
    return explanation_html(expl, title, picture_html(pic), pic.captions, pic.relations)


def write_explanation_page(path: str | Path, expl: Any, title: Sequence[str], split: Any,
                           image: int, images_root: str | Path | None = None) -> None:
    write_text(path, explanation_page(expl, title, split, image, images_root))
