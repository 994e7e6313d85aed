"""Draw a synthetic scene as a small SVG: each object's boxes, labelled with its attributes.

Synthetic galleries have no pixels, but `ssamt synth` saves every scene beside the features
({split}_scenes.jsonl: setting, objects with type, attributes and normalized boxes, and
relations), so a user can see the "image" a caption was matched with. A scenes file is data
like any other: an entry that is not JSON, or whose boxes, counts or relations are not
numbers, is a DataError naming the file and the line, never a crash while drawing.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from ssamt.errors import DataError, shown
from ssamt.text import decode_line

# Fill of a box: the object's colour attribute when it has one (it is part of what a
# caption must match), else a stable colour per object type.
COLOURS = {"red": "#d62728", "blue": "#1f77b4", "green": "#2ca02c", "yellow": "#e6c619",
           "black": "#222222", "white": "#f4f4f4", "brown": "#8c564b", "grey": "#8a8a8a",
           "gray": "#8a8a8a", "orange": "#ff7f0e", "pink": "#e377c2", "purple": "#9467bd"}
_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f")
_SETTINGS = {"park": "#e8f4e0", "beach": "#fbf2d5", "street": "#e9e9ee", "kitchen": "#f6ede4",
             "field": "#eef6dc", "room": "#f1ece6"}


def scenes_path(data_dir: str | Path, split: str) -> Path:
    return Path(data_dir) / f"{split}_scenes.jsonl"


@lru_cache(maxsize=8)
def _line_offsets(path: str, mtime_ns: int, size: int) -> np.ndarray:
    """Byte offset of every line of `path` (keyed by mtime and size, so a rewrite is seen)."""
    offsets = [0]
    with open(path, "rb") as handle:
        for line in handle:
            offsets.append(offsets[-1] + len(line))
    return np.asarray(offsets[:-1], dtype=np.int64)


def read_scene(data_dir: str | Path, split: str, i: int) -> dict[str, Any] | None:
    """Scene of image i of the split, or None when the split has no scenes file (a real
    dataset) or no line i. DataError naming the file and the line when the entry is not a
    scene (scene_problem)."""
    path = scenes_path(data_dir, split)
    if not path.is_file():
        return None
    stat = path.stat()
    offsets = _line_offsets(str(path), stat.st_mtime_ns, stat.st_size)
    if not 0 <= i < len(offsets):
        return None
    with open(path, "rb") as handle:
        handle.seek(int(offsets[i]))
        raw = handle.readline()
    where = f"line {i + 1} (image {i})"
    try:
        scene = json.loads(decode_line(raw, path, i + 1))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"{where}: not JSON ({exc.msg})") from None
    problem = scene_problem(scene)
    if problem is not None:
        raise DataError(path, f"{where}: {problem}")
    return scene


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object_problem(k: int, obj: object) -> str | None:
    if not isinstance(obj, dict):
        return f"object {k} is {shown(obj)}, not a JSON object"
    if not isinstance(obj.get("attrs", {}), dict):
        return f"object {k}: attrs {shown(obj['attrs'])} is not a JSON object"
    if not _whole(obj.get("count", 1)):
        return f"object {k}: count {shown(obj['count'])} is not a whole number"
    boxes = obj.get("boxes", [])
    if not isinstance(boxes, list):
        return f"object {k}: boxes {shown(boxes)} is not a list"
    for b, box in enumerate(boxes):
        if not (isinstance(box, list) and len(box) >= 4 and all(map(_number, box[:4]))):
            return f"object {k}, box {b}: {shown(box)} is not 4 numbers (x1, y1, x2, y2)"
    return None


def scene_problem(scene: object) -> str | None:
    """What keeps `scene` (one entry of a scenes file) from being drawn, or None: objects a
    list of JSON objects whose boxes are 4 finite numbers and whose count is a whole number,
    relations [subject, relation, object] with the objects' numbers."""
    if not isinstance(scene, dict):
        return f"{shown(scene)} is not a JSON object"
    objects, relations = scene.get("objects", []), scene.get("relations", [])
    if not isinstance(objects, list):
        return f"objects {shown(objects)} is not a list"
    for k, obj in enumerate(objects):
        problem = _object_problem(k, obj)
        if problem is not None:
            return problem
    if not isinstance(relations, list):
        return f"relations {shown(relations)} is not a list"
    for r, rel in enumerate(relations):
        if not (isinstance(rel, list) and len(rel) == 3 and _whole(rel[0]) and _whole(rel[2])):
            return (f"relation {r}: {shown(rel)} is not [subject, relation, object] with the "
                    "objects' numbers")
    return None


def _type_colour(name: str) -> str:
    return _PALETTE[int(hashlib.sha1(name.encode()).hexdigest(), 16) % len(_PALETTE)]


def object_label(obj: dict[str, Any]) -> str:
    """"2 small grey dog": the count (if several), the attribute values, the type."""
    count = int(obj.get("count", 1))
    words = ([str(count)] if count > 1 else []) + [str(v) for v in obj.get("attrs", {}).values()]
    return " ".join([*words, str(obj.get("type", "?"))])


def relation_lines(scene: dict[str, Any]) -> list[str]:
    """"dog chase frisbee" for each relation (subject, relation, object) of the scene."""
    objects = scene.get("objects", [])
    out = []
    for s, rel, o in scene.get("relations", []):
        if 0 <= s < len(objects) and 0 <= o < len(objects):
            out.append(f"{objects[s].get('type')} {rel} {objects[o].get('type')}")
    return out


def _boxes(scene: dict[str, Any]) -> list[tuple[float, tuple[float, ...], dict[str, Any]]]:
    """(area, box, object) of every member box, largest first so small ones stay visible."""
    items = [((b[2] - b[0]) * (b[3] - b[1]), tuple(b), obj)
             for obj in scene.get("objects", []) for b in obj.get("boxes", []) if len(b) >= 4]
    return sorted(items, key=lambda t: -t[0])


def scene_svg(scene: dict[str, Any], width: int = 320, height: int = 240) -> str:
    """An <svg> element of the scene: setting as background, one rectangle per box, labelled
    with the object's attributes and type; relations in the <title>."""
    bg = _SETTINGS.get(str(scene.get("setting")), "#f2f2f2")
    title = escape("; ".join([f"setting: {scene.get('setting')}", *relation_lines(scene)]))
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" class="scene">'),
             f"<title>{title}</title>",
             f'<rect width="{width}" height="{height}" fill="{bg}"/>',
             (f'<text x="4" y="{height - 5}" font-size="10" fill="#777" '
             f'font-family="sans-serif">{escape(str(scene.get("setting", "")))}</text>')]
    for _, (x1, y1, x2, y2), obj in _boxes(scene):
        colour = COLOURS.get(str(obj.get("attrs", {}).get("colour")), _type_colour(
            str(obj.get("type"))))
        x, y = x1 * width, y1 * height
        w, h = max(1.0, (x2 - x1) * width), max(1.0, (y2 - y1) * height)
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                     f'fill="{colour}" fill-opacity="0.35" stroke="{colour}" stroke-width="1.5"/>')
        parts.append(f'<text x="{x + 2:.1f}" y="{max(y - 2, 9):.1f}" font-size="9" '
                     f'font-family="sans-serif" fill="#111">{escape(object_label(obj))}</text>')
    parts.append("</svg>")
    return "".join(parts)
