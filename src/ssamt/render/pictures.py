"""What to show for image i of a gallery, whatever the gallery holds.

- a synthetic split (it has {split}_scenes.jsonl): the scene drawn as SVG (scene_svg);
- a photo gallery (written by `ssamt features`): the index's thumbnail, else the photo in
  the folder its {split}_photos.json names (the image id is the photo's path there);
- a precomp split (COCO, Flickr30K) with `images_root`: the original JPEG, found from the
  image id (find_image_file; COCO and Flickr30K name their files differently);
- otherwise: nothing to draw; the page shows the id and the reference captions.

Every picture file, wherever a dataset's ids, {split}_photos.json or links point, goes through
one loader, load_picture: the file must resolve (symbolic links followed) to a regular file
inside the folder it was looked up in (the index's thumbs/, the photos folder, the images
root), and what leaves is a JPEG that Pillow drew from it at a bounded size, never the file's
own bytes. So neither the web app nor a written page can hand out a file that is not a
picture of the gallery; anything else is a PhotoError and the image shows no picture.
"""

from __future__ import annotations

import base64
import io
import os
import stat
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from ssamt.data.split_files import photos_root
from ssamt.errors import DataError
from ssamt.features.photos import PhotoError, open_photo
from ssamt.render.scene_svg import read_scene, relation_lines, scene_svg

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SERVED_SIDE = 1024  # the web app's pictures: a result card or an explanation, not a camera's
PAGE_SIDE = 480  # a picture embedded in an explanation page
THUMB_SIDE = 256  # an index's thumbnails


@dataclass(frozen=True)
class Picture:
    """kind: "svg" (svg holds the markup), "file" (jpeg holds what load_picture made of the
    image's file) or "none" (problem: why a file that was there is not shown, in words
    without its path; None when there was no file); captions: the image's captions in the
    split; relations: a scene's, in words."""

    kind: str
    image_id: str | int
    captions: tuple[str, ...] = ()
    svg: str | None = None
    jpeg: bytes | None = None
    relations: tuple[str, ...] = field(default_factory=tuple)
    problem: str | None = None


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
    for folder in ("", "val2014", "train2014", "images", "flickr30k-images"):
        for name in file_candidates(key):
            path = contained_file(root, Path(folder, name))
            if path is not None:
                return path
    return None


def contained_file(folder: str | Path, name: str | Path) -> Path | None:
    """`folder / name` with every symbolic link followed, when that is a regular file inside
    `folder` (itself resolved), else None: the one rule for where a picture may come from.
    An absolute `name`, a ".." or a link out of the folder gets no exception to it."""
    try:
        root = Path(folder).resolve()
        path = (root / name).resolve()
    except (OSError, RuntimeError, ValueError):  # a link loop; a NUL in a name
        return None
    return path if path.is_relative_to(root) and path.is_file() else None


def load_picture(folder: str | Path, name: str | Path, max_side: int) -> bytes:
    """The one way a picture file's content leaves ssamt (the web app's picture route, an
    explanation page, an index's thumbnails): a JPEG that Pillow drew from the image `name`
    inside `folder` (contained_file), at most `max_side` pixels wide and high, EXIF
    orientation applied. Only Pillow's output is ever sent or embedded, so no byte of a file
    that is not a picture can leave, whatever a dataset's ids or links name. PhotoError, in
    words without the path, when the file is outside its folder, not a regular file or not
    an image Pillow reads."""
    path = contained_file(folder, name)
    if path is None:
        raise PhotoError("not a regular file inside its folder")
    image = _open_regular(path, max_side)
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _open_regular(path: Path, max_side: int) -> Any:
    """open_photo of the file at `path`, checked once more as it is opened: not following a
    link and not waiting on a FIFO that replaced the file since contained_file looked."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise PhotoError(f"cannot open ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise PhotoError("not a regular file")
        try:
            return open_photo(handle, max_side)
        except ImportError:
            raise PhotoError("showing pictures needs Pillow (pip install pillow)") from None


def thumb_path(thumbs: str | Path, i: int) -> Path:
    """The thumbnail of image i of an index's split (ssamt.search.build)."""
    return Path(thumbs) / f"{i:06d}.jpg"


def photo_folder(split: Any) -> Path | None:
    """The folder of a split written by `ssamt features`, as its {split}_photos.json names
    it (an image's id is its photo's path there), or None."""
    return photos_root(split.data_dir, split.split)


def picture_files(split: Any, i: int, images_root: str | Path | None = None,
                  thumbs: str | Path | None = None) -> list[tuple[Path, Path]]:
    """(folder, name) of each file there is for image i, best first: the index's thumbnail
    (`thumbs` folder), the photo of `ssamt features`, the original under `images_root`. A
    name counts when something is there (a link too, even one out of the folder), so that
    load_picture, not this list, refuses what may not be shown and says why."""
    image_id = str(split.ids[i] if split.ids is not None else i)
    found = []
    if thumbs is not None:
        found.append((Path(thumbs), Path(thumb_path(thumbs, i).name)))
    photos = photo_folder(split)
    if photos is not None:
        found.append((photos, Path(image_id)))
    original = find_image_file(images_root, image_id) if images_root is not None else None
    if original is not None:
        found.append((Path(images_root), original))
    return [(folder, name) for folder, name in found if os.path.lexists(folder / name)]


def picture(split: Any, i: int, images_root: str | Path | None = None,
            thumbs: str | Path | None = None, max_side: int = SERVED_SIDE) -> Picture:
    """The Picture of image i of a PrecompSplit (module docstring): a scene, else the first
    of picture_files that load_picture reads (at most `max_side` pixels), else none (with
    the problem of the first file refused). DataError when `images_root` is given but is
    not a folder."""
    if images_root is not None and not Path(images_root).is_dir():
        raise DataError(images_root, "--images-root is not a folder")
    image_id = split.ids[i] if split.ids is not None else i
    captions = tuple(split.image_captions(i))
    scene = read_scene(split.data_dir, split.split, int(split.rows[i]))
    if scene is not None:
        return Picture("svg", image_id, captions, svg=scene_svg(scene),
                       relations=tuple(relation_lines(scene)))
    problem = None
    for folder, name in picture_files(split, i, images_root, thumbs):
        try:
            return Picture("file", image_id, captions, jpeg=load_picture(folder, name, max_side))
        except PhotoError as exc:
            problem = problem or str(exc)
    return Picture("none", image_id, captions, problem=problem)


def picture_html(pic: Picture) -> str:
    """Self-contained HTML of a Picture: inline SVG, a data: URI, or the id in a box."""
    if pic.kind == "svg" and pic.svg:
        return pic.svg
    if pic.kind == "file" and pic.jpeg is not None:
        data = base64.b64encode(pic.jpeg).decode()
        return (f'<img alt="image {escape(str(pic.image_id))}" style="max-width:320px" '
                f'src="data:image/jpeg;base64,{data}">')
    why = ("its file is not a readable picture" if pic.problem is not None
           else "pass --images-root DIR to show the original")
    return (f'<div class="noimage">image {escape(str(pic.image_id))}<br><small>no picture: '
            f"{why}</small></div>")
