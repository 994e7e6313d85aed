"""Minimal-pair files of a synthetic folder, beside the precomp files.

For dev, test and testall:
  {split}_minimal.jsonl       one edit a line: {"image", "caption" (line in {split}_caps.txt),
                              "edit" (synth_edits.EDIT_TYPES), "side" ("text" | "image"),
                              "source" (the true caption), "text" (the edited caption; the
                              source itself for image-side edits), "span" (indices of the
                              edited words in text.split()), "char_spans" ([start, end) in
                              text), "span_words", and "spec" (the edited CaptionSpec) or
                              "scene" (the edited scene) with "edited_image" (its row)}
  {split}_minimal_ims.npy     (M, R, D) features of the edited scenes, as {split}_ims.npy
  {split}_minimal_boxes.npy   (M, R, 4) their boxes (the original image's: edits move no box)
  {split}_capspecs.jsonl      the CaptionSpec of every caption, for scene truth

The files are made by replaying the split's random stream (draw.py) and checking the
captions against {split}_caps.txt; the choice of edits has its own random stream per image,
so the other files are the same with or without them. An edited image is the original
features plus (coef(edited) - coef(original)) @ prototypes: the same regions, slots and
noise, only the edited objects' prototype weights differ.
"""

from __future__ import annotations

import json
import random
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from ssamt.data.synth.caption import CaptionSpec
from ssamt.data.synth.draw import CAPTIONS_PER_IMAGE, ImageDraw, draw_image, relayout
from ssamt.data.synth.edits import EDIT_TYPES, Edit, image_edits, text_edits
from ssamt.data.synth.features import prototype_bank
from ssamt.data.synth.scene import Scene
from ssamt.data.synth.sizes import SynthSize
from ssamt.data.synth.truth import scene_from_json
from ssamt.errors import DataError
from ssamt.fileio import atomic_open, read_text

MINIMAL_VERSION = 1
MINIMAL_SPLITS = ("dev", "test", "testall")
# split -> the random stream it is drawn from (test is the first images of testall)
_STREAM = {"dev": "dev", "test": "testall", "testall": "testall"}


def choose_edits(rng: random.Random, scene: Scene,
                 specs: list[CaptionSpec]) -> list[tuple[int, Edit]]:
    """At most one (caption index, Edit) per edit type for an image, drawn from every
    caption's candidates."""
    by_type: dict[str, list[tuple[int, Edit]]] = {}
    for c, spec in enumerate(specs):
        for e in text_edits(spec, scene):
            by_type.setdefault(e.edit, []).append((c, e))
    for c, e in image_edits(scene, specs):
        by_type.setdefault(e.edit, []).append((c, e))
    return [rng.choice(by_type[name]) for name in EDIT_TYPES if name in by_type]


def char_spans(words: list[str], span: list[int]) -> list[list[int]]:
    """[start, end) character ranges of runs of consecutive span words in " ".join(words)."""
    starts = np.cumsum([0] + [len(w) + 1 for w in words])
    out: list[list[int]] = []
    for w in span:
        a, b = int(starts[w]), int(starts[w] + len(words[w]))
        if out and out[-1][1] + 1 == a:
            out[-1][1] = b
        else:
            out.append([a, b])
    return out


def pair_record(i: int, c: int, edit: Edit, source: str, row: int | None) -> dict[str, Any]:
    words, _ = edit.spec.render()
    span = edit.span()
    rec = {"image": i, "caption": i * CAPTIONS_PER_IMAGE + c, "edit": edit.edit,
           "side": "text" if edit.scene is None else "image", "source": source,
           "text": edit.spec.text(), "span": span, "char_spans": char_spans(words, span),
           "span_words": [words[w] for w in span]}
    if edit.scene is None:
        rec["spec"] = edit.spec.to_json()
    else:
        rec["scene"], rec["edited_image"] = edit.scene.to_json(), row
    return rec


def write_minimal_pairs(folder: str | Path, cfg: SynthSize, seed: int, generator: int) -> None:
    """Write the minimal-pair files of dev, test and testall into `folder` (module docstring);
    cfg: the folder's SynthSize. test is the first images of testall's stream, so the two
    are written in one pass over that stream (each image drawn and edited once)."""
    folder = Path(folder)
    bank = prototype_bank(seed, cfg.dim)
    for stream in dict.fromkeys(_STREAM.values()):
        splits = [split for split in MINIMAL_SPLITS if _STREAM[split] == stream]
        _write_stream(folder, stream, splits, cfg, seed, generator, bank)


class _SplitWriter:
    """The minimal-pair files of one split, filled image by image."""

    def __init__(self, folder: Path, split: str, n: int, files: ExitStack) -> None:
        self.folder, self.split, self.n = folder, split, n
        self.feats = np.load(folder / f"{split}_ims.npy", mmap_mode="r")
        self.boxes = np.load(folder / f"{split}_boxes.npy", mmap_mode="r")
        self.caps = (folder / f"{split}_caps.txt").read_text(encoding="utf-8").splitlines()
        self.out = files.enter_context(atomic_open(folder / f"{split}_minimal.jsonl", "w"))
        self.specs_out = files.enter_context(
            atomic_open(folder / f"{split}_capspecs.jsonl", "w"))
        self.rows: list[np.ndarray] = []
        self.row_boxes: list[np.ndarray] = []

    def add(self, i: int, d: ImageDraw, texts: list[str], edits: list[tuple[int, Edit]],
            bank: np.ndarray) -> None:
        """Image i of the split: its captions' specs and its chosen edits."""
        if texts != self.caps[i * CAPTIONS_PER_IMAGE:(i + 1) * CAPTIONS_PER_IMAGE]:
            raise DataError(self.folder / f"{self.split}_caps.txt", f"image {i}: the captions "
                            "differ from the generator's (another seed, size or generator?)")
        self.specs_out.writelines(json.dumps(s.to_json()) + "\n" for s in d.specs)
        for c, edit in edits:
            row = None
            if edit.scene is not None:
                row = len(self.rows)
                self.rows.append(_edited_features(d, edit.scene, self.feats[i], bank))
                self.row_boxes.append(np.asarray(self.boxes[i]))
            self.out.write(json.dumps(pair_record(i, c, edit, texts[c], row)) + "\n")

    def save_features(self, cfg: SynthSize) -> None:
        shape = (len(self.rows), cfg.regions)
        _save(self.folder / f"{self.split}_minimal_ims.npy", np.stack(self.rows) if self.rows
              else np.zeros((*shape, cfg.dim), self.feats.dtype))
        _save(self.folder / f"{self.split}_minimal_boxes.npy", np.stack(self.row_boxes)
              if self.rows else np.zeros((*shape, 4), np.float32))


def _write_stream(folder: Path, stream: str, splits: list[str], cfg: SynthSize, seed: int,
                  generator: int, bank: np.ndarray) -> None:
    """The files of every split drawn from `stream`: image i goes to each split with more
    than i images."""
    rng = random.Random(f"ssamt-synth:{seed}:{stream}")  # as synth._write_split
    with ExitStack() as files:
        writers = [_SplitWriter(folder, split, cfg.images(split), files) for split in splits]
        for i in range(max(w.n for w in writers)):
            d = draw_image(rng, cfg.objects, cfg.regions, generator)
            texts = [s.text() for s in d.specs]
            pick = random.Random(f"ssamt-minimal:{seed}:{stream}:{i}")
            edits = choose_edits(pick, d.scene, d.specs)
            for writer in writers:
                if i < writer.n:
                    writer.add(i, d, texts, edits, bank)
        for writer in writers:
            writer.save_features(cfg)


def _edited_features(d: ImageDraw, edited: Scene, feats: np.ndarray,
                     bank: np.ndarray) -> np.ndarray:
    """(R, D) features of the edited scene (module docstring), in the split's dtype."""
    delta = (relayout(d, edited) - d.coef) @ bank  # (R, K) @ (K, D)
    return (np.asarray(feats, np.float32) + delta).astype(feats.dtype)


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_open(path, "wb", encoding=None) as handle:
        np.save(handle, array)


# ----- reading ----------------------------------------------------------------------------


def minimal_paths(data_dir: str | Path, split: str) -> dict[str, Path]:
    d = Path(data_dir)
    return {"pairs": d / f"{split}_minimal.jsonl", "ims": d / f"{split}_minimal_ims.npy",
            "boxes": d / f"{split}_minimal_boxes.npy", "specs": d / f"{split}_capspecs.jsonl",
            "scenes": d / f"{split}_scenes.jsonl"}


def need_minimal_file(path: Path) -> Path:
    """`path`, a file of a split's minimal pairs (minimal_paths); DataError saying how to
    write them when it is missing."""
    if not path.is_file():
        raise DataError(path, "missing: minimal pairs exist only for synthetic folders; write "
                              f"them with `ssamt synth {path.parent} --add-minimal`")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file, read as every text file is (ssamt.fileio.read_text)."""
    lines = read_text(need_minimal_file(path)).split("\n")
    try:
        return [json.loads(line) for line in lines if line.strip()]
    except ValueError as exc:
        raise DataError(path, f"not JSON lines ({exc})") from None


def read_pairs(data_dir: str | Path, split: str) -> list[dict[str, Any]]:
    """The records of {split}_minimal.jsonl (module docstring)."""
    return read_jsonl(minimal_paths(data_dir, split)["pairs"])


def read_edited_images(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(M, R, D) features and (M, 4) boxes of the edited scenes (memory-mapped)."""
    p = minimal_paths(data_dir, split)
    return np.load(need_minimal_file(p["ims"]), mmap_mode="r"), np.load(need_minimal_file(p["boxes"]), mmap_mode="r")


def read_specs(data_dir: str | Path, split: str) -> list[CaptionSpec]:
    return [CaptionSpec.from_json(d) for d in read_jsonl(minimal_paths(data_dir, split)["specs"])]


def read_scenes(data_dir: str | Path, split: str) -> list[Scene]:
    return [scene_from_json(d) for d in read_jsonl(minimal_paths(data_dir, split)["scenes"])]
