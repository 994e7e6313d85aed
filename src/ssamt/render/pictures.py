"""What to show for image i of a gallery, whatever the gallery holds.

- a synthetic split (it has {split}_scenes.jsonl): the scene drawn as SVG (scene_svg);
- a precomp split (COCO, Flickr30K) with `images_root`: the original JPEG, found from the
  image id (find_image_file; COCO and Flickr30K name their files differently);
- otherwise: nothing to draw; the page shows the id and the reference captions.
"""

from __future__ import annotations

import base64
import io
import json
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


def thumb_path(thumbs: str | Path, i: int) -> Path:
    """The thumbnail of image i of an index's split (ssamt.search.build)."""
    return Path(thumbs) / f"{i:06d}.jpg"


def photo_file(split: Any, image_id: str | int) -> Path | None:
    """The photo of `image_id` in a split written by `ssamt features` ({split}_photos.json
    names its folder; the id is the photo's path there), or None. Never outside the folder."""
    manifest = Path(split.data_dir) / f"{split.split}_photos.json"
    if not manifest.is_file():
        return None
    try:
        root = Path(json.loads(manifest.read_text(encoding="utf-8"))["root"]).resolve()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    path = (root / str(image_id)).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def picture(split: Any, i: int, images_root: str | Path | None = None,
            thumbs: str | Path | None = None) -> Picture:
    """The Picture of image i of a PrecompSplit (module docstring): a scene, else the
    index's thumbnail (`thumbs` folder), else a photo of `ssamt features`, else the file
    under `images_root`. DataError when `images_root` is given but is not a folder."""
    if images_root is not None and not Path(images_root).is_dir():
        raise DataError(images_root, "--images-root is not a folder")
    image_id = split.ids[i] if split.ids is not None else i
    captions = tuple(split.image_captions(i))
    scene = read_scene(split.data_dir, split.split, int(split.rows[i]))
    if scene is not None:
        return Picture("svg", image_id, captions, svg=scene_svg(scene),
                       relations=tuple(relation_lines(scene)))
    if thumbs is not None and thumb_path(thumbs, i).is_file():
        return Picture("file", image_id, captions, path=thumb_path(thumbs, i))
    photo = photo_file(split, image_id)
    if photo is not None:
        return Picture("file", image_id, captions, path=photo)
    if images_root is not None:
        path = find_image_file(images_root, image_id)
        if path is not None:
            return Picture("file", image_id, captions, path=path)
    return Picture("none", image_id, captions)


def thumbnail_bytes(path: Path, max_side: int = 256) -> bytes:
    """A JPEG of the picture at most `max_side` pixels wide and high (EXIF orientation
    applied), so a page embeds kilobytes rather than a camera's megabytes."""
    from PIL import Image, ImageOps  # optional dependency

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        im.thumbnail((max_side, max_side))
        out = io.BytesIO()
        im.save(out, format="JPEG", quality=85)
    return out.getvalue()


def media_type(path: Path) -> str:
    return "image/png" if path.suffix.lower() == ".png" else "image/jpeg"


def picture_html(pic: Picture) -> str:
    """Self-contained HTML of a Picture: inline SVG, a data: URI, or the id in a box."""
    if pic.kind == "svg" and pic.svg:
        return pic.svg
    if pic.kind == "file" and pic.path is not None:
        data = base64.b64encode(thumbnail_bytes(pic.path, 480)).decode()
        return (f'<img alt="image {escape(str(pic.image_id))}" style="max-width:320px" '
                f'src="data:image/jpeg;base64,{data}">')
    return (f'<div class="noimage">image {escape(str(pic.image_id))}<br><small>no picture: '
            "pass --images-root DIR to show the original</small></div>")
