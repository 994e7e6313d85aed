"""The field's compositional benchmarks, read from their published files as they are.

- SugarCrepe: one JSON file per subset (replace-obj, swap-att, add-att, ...), a mapping
  `{id: {"filename": "000000565045.jpg", "caption": true, "negative_caption": false}}`.
- ARO's VG-Relation and VG-Attribution: one JSON list of `{"image_path", "bbox_x", "bbox_y",
  "bbox_w", "bbox_h", "true_caption", "false_caption", ...}` (`relation_name` in
  VG-Relation, `attributes` in VG-Attribution).
- Winoground: JSON lines of `{"id", "image_0", "image_1", "caption_0", "caption_1", "tag",
  ...}`: caption_0 is true of image_0, caption_1 of image_1, with the same words.

Each file becomes a Benchmark of Pairs (one image, a true and a false caption) or of Groups
(two images, two captions). Images are named as the benchmark names them; `find_images`
looks them up in a split's ids (a COCO file name such as 000000565045.jpg is image id
565045; a photo is its path). A malformed file is one DataError naming the file and the
entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssamt.errors import DataError

FORMATS = ("sugarcrepe", "aro", "winoground")


@dataclass(frozen=True)
class Pair:
    """One image with its true and its false caption; key: the entry's id in its file."""

    key: str
    image: str
    true: str
    false: str


@dataclass(frozen=True)
class Group:
    """Two images and two captions, caption_k true of image_k (Winoground)."""

    key: str
    images: tuple[str, str]
    captions: tuple[str, str]
    tag: str = ""


@dataclass(frozen=True)
class Benchmark:
    """One file: its format, its subset's name and its entries (Pairs or Groups)."""

    path: Path
    format: str
    subset: str
    entries: tuple[Pair | Group, ...]


def _text(path: Path, key: str, entry: Any, field: str) -> str:
    value = entry.get(field) if isinstance(entry, dict) else None
    if not isinstance(value, (str, int)) or not str(value).strip():
        raise DataError(path, f"entry {key}: {field!r} is missing or empty")
    return str(value)


def _sugarcrepe(path: Path, data: dict) -> Benchmark:
    pairs = tuple(Pair(str(key), _text(path, key, e, "filename"), _text(path, key, e, "caption"),
                       _text(path, key, e, "negative_caption")) for key, e in data.items())
    return Benchmark(path, "sugarcrepe", path.stem, pairs)


def _aro(path: Path, data: list) -> Benchmark:
    pairs = tuple(Pair(str(k), _text(path, str(k), e, "image_path"),
                       _text(path, str(k), e, "true_caption"),
                       _text(path, str(k), e, "false_caption")) for k, e in enumerate(data))
    first = data[0] if data else {}
    subset = ("VG-Relation" if "relation_name" in first else
              "VG-Attribution" if "attributes" in first else path.stem)
    return Benchmark(path, "aro", subset, pairs)


def _winoground(path: Path, lines: list[tuple[int, Any]]) -> Benchmark:
    groups = []
    for line, e in lines:
        key = f"line {line}"
        images = (_text(path, key, e, "image_0"), _text(path, key, e, "image_1"))
        captions = (_text(path, key, e, "caption_0"), _text(path, key, e, "caption_1"))
        groups.append(Group(str(e.get("id", line)), images, captions, str(e.get("tag", ""))))
    subset = "Winoground" if path.stem == "examples" else path.stem  # its published name
    return Benchmark(path, "winoground", subset, tuple(groups))


def _starts_winoground(text: str) -> bool:
    """Whether the first non-empty line is a JSON object of Winoground's."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        entry = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(entry, dict) and "caption_0" in entry


def _json_lines(path: Path, text: str) -> list[tuple[int, Any]]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(path, f"line {n} is not JSON ({exc.msg})") from None
    return out


def read_benchmark(path: str | Path) -> Benchmark:
    """One benchmark file, its format told by its first entry (module docstring); every
    entry is then checked, and a bad one is a DataError naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(path, f"cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise DataError(path, "not a benchmark file (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if _starts_winoground(text):  # Winoground is JSON lines
            return _winoground(path, _json_lines(path, text))
        raise DataError(path, f"not valid JSON ({exc.msg} at line {exc.lineno}, column "
                              f"{exc.colno})") from None
    first = next(iter(data.values()), None) if isinstance(data, dict) else (
        data[0] if isinstance(data, list) and data else None)
    if isinstance(data, dict) and "caption_0" in data:  # a one-line Winoground file
        return _winoground(path, [(1, data)])
    if isinstance(data, dict) and isinstance(first, dict) and "negative_caption" in first:
        return _sugarcrepe(path, data)
    if isinstance(data, list) and isinstance(first, dict) and "false_caption" in first:
        return _aro(path, data)
    raise DataError(path, "not a SugarCrepe, ARO or Winoground file (its first entry has no "
                          "negative_caption, false_caption or caption_0)")


def _stem(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"\.(jpe?g|png|bmp|gif|webp|tiff?)$", "", base, flags=re.IGNORECASE)


def _number(name: str) -> int | None:
    """The image number of a COCO / Flickr / Visual Genome file name or id made of digits
    alone ("000000565045", "COCO_val2014_000000565045", "2402590"), else None: other names
    that end in digits ("ex_0_img_1") are names, not numbers."""
    found = re.fullmatch(r"(?:COCO_[a-z]+\d{4}_)?(\d+)", _stem(name))
    return int(found.group(1)) if found else None


def find_images(names: Sequence[str], ids: Sequence[str] | None) -> list[int | None]:
    """The split row of each benchmark image name, or None when the split lacks it: an id
    equal to the name (a photo's path), to its file name without the extension, or to its
    image number (COCO's zero-padded file names against numeric ids)."""
    if ids is None:
        return [None] * len(names)
    exact: dict[str, int] = {}
    by_stem: dict[str, int] = {}
    by_number: dict[int, int] = {}
    for row, image_id in enumerate(ids):
        exact.setdefault(image_id, row)
        by_stem.setdefault(_stem(image_id), row)
        number = _number(image_id)
        if number is not None:
            by_number.setdefault(number, row)
    out = []
    for name in names:
        row = exact.get(name, by_stem.get(_stem(name)))
        if row is None and _number(name) is not None:
            row = by_number.get(_number(name))
        out.append(row)
    return out
