"""What to show for image i of a gallery, whatever the gallery holds.

- a synthetic split (it has {split}_scenes.jsonl): the scene drawn as SVG (scene_svg);
- a precomp split (COCO, Flickr30K) with `images_root`: the original JPEG, found from the
  image id (find_image_file; COCO and Flickr30K name their files differently);
- otherwise: nothing to draw; the page shows the id and the reference captions.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from ssamt.errors import DataError
from ssamt.render.scene_svg import read_scene, relation_lines, scene_svg

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Picture:
    """kind: "svg" (svg holds the markup), "file" (path: a JPEG/PNG under images_root) or
    "none"; captions: the image's captions in the split; relations: a scene's, in words."""

    kind: str
    image_id: str | int
    captions: tuple[str, ...] = ()
    svg: str | None = None
    path: Path | None = None
    relations: tuple[str, ...] = field(default_factory=tuple)


def file_candidates(image_id: str) -> list[str]:
    """File names an image id may have: Flickr30K "1000092795.jpg"; COCO 391895 as
    "000000391895.jpg" (2017) or "COCO_val2014_000000391895.jpg" (2014, also train)."""
    names = [f"{image_id}{s}" for s in _IMAGE_SUFFIXES]
    if image_id.isdigit():
        n = int(image_id)
        names += [f"{n:012d}.jpg", f"COCO_val2014_{n:012d}.jpg", f"COCO_train2014_{n:012d}.jpg"]
    return names


def find_image_file(root: str | Path, image_id: str | int) -> Path | None:
    """The original picture of `image_id` under `root` (or its val2014 / train2014 / images
    subfolders), or None. Ids are file names at most, never paths: an id holding a path
    separator or "..", or a match outside root, is not looked up (no path traversal)."""
    key = str(image_id).strip()
    if not key or "/" in key or "\\" in key or key.startswith("."):
        return None
    root = Path(root).resolve()
    for folder in (root, root / "val2014", root / "train2014", root / "images",
                   root / "flickr30k-images"):
        for name in file_candidates(key):
            path = (folder / name).resolve()
            if path.is_file() and path.is_relative_to(root):
                return path
    return None


def picture(split: Any, i: int, images_root: str | Path | None = None) -> Picture:
    """The Picture of image i of a PrecompSplit (module docstring); DataError when
    `images_root` is given but is not a folder."""
    if images_root is not None and not Path(images_root).is_dir():
        raise DataError(images_root, "--images-root is not a folder")
    image_id = split.ids[i] if split.ids is not None else i
    captions = tuple(split.image_captions(i))
    scene = read_scene(split.data_dir, split.split, int(split.rows[i]))
    if scene is not None:
        return Picture("svg", image_id, captions, svg=scene_svg(scene),
                       relations=tuple(relation_lines(scene)))
    if images_root is not None:
        path = find_image_file(images_root, image_id)
        if path is not None:
            return Picture("file", image_id, captions, path=path)
    return Picture("none", image_id, captions)


def media_type(path: Path) -> str:
    return "image/png" if path.suffix.lower() == ".png" else "image/jpeg"


def picture_html(pic: Picture) -> str:
    """Self-contained HTML of a Picture: inline SVG, a data: URI, or the id in a box."""
    if pic.kind == "svg" and pic.svg:
        return pic.svg
    if pic.kind == "file" and pic.path is not None:
        data = base64.b64encode(pic.path.read_bytes()).decode()
        return (f'<img alt="image {escape(str(pic.image_id))}" style="max-width:320px" '
                f'src="data:{media_type(pic.path)};base64,{data}">')
    return (f'<div class="noimage">image {escape(str(pic.image_id))}<br><small>no picture: '
            "pass --images-root DIR to show the original</small></div>")
