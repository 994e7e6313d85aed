"""A synthetic split's minimal pairs written in the field's benchmark formats, so that `ssamt
analyze compositional` runs on built-in data and can be checked against `ssamt analyze
minimal-pairs` on the same pairs.

    OUT/sugarcrepe/{edit}.json    SugarCrepe: one file per text-side edit type,
                                  {record: {"filename": "<image id>.png", "caption": the true
                                  caption, "negative_caption": the edited one}}, the image id
                                  a line of {split}_ids.txt
    OUT/winoground/examples.jsonl Winoground: two images and two captions of the same words
    OUT/winoground/test_*         their images as a precomp split "test"

A Winoground example starts from an image-side edit (image i, caption c true of it, the
edited scene i' of which c is false) and adds a word swap of c that is true of i' and false
of i (scene truth): caption_0 = c with image_0 = i, caption_1 = the swap with image_1 = i'.
Image-side edits without such a swap give no example.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ssamt.data.precomp import open_split
from ssamt.data.synth.edits import EDIT_TYPES, text_edits
from ssamt.data.synth.minimal import read_edited_images, read_pairs, read_scenes, read_specs
from ssamt.data.synth.truth import caption_true, scene_from_json
from ssamt.errors import OutputError
from ssamt.fileio import write_json, write_text

WINOGROUND_SPLIT = "test"


def _check_out(out: Path) -> None:
    """OUT must be new, empty or an earlier export (nothing else is ever written over)."""
    if out.exists() and (not out.is_dir() or any(
            p.name not in ("sugarcrepe", "winoground") for p in out.iterdir())):
        raise OutputError(f"{out}: exists and is not an export of `ssamt synth "
                          "--export-benchmarks`: choose another folder")


def sugarcrepe_files(records: list[dict], ids: list[str]) -> dict[str, dict]:
    """{edit type: the SugarCrepe mapping} of the text-side records (keys: record lines)."""
    files: dict[str, dict] = {}
    for k, r in enumerate(records):
        if r["side"] == "text":
            files.setdefault(r["edit"], {})[str(k)] = {
                "filename": f"{ids[r['image']]}.png", "caption": r["source"],
                "negative_caption": r["text"]}
    return {edit: files[edit] for edit in EDIT_TYPES if edit in files}


def winoground_examples(data_dir: Path, split: str, records: list[dict]) -> list[dict]:
    """Winoground examples of the image-side records (module docstring), each with the
    image row and edited-image row it shows."""
    specs, scenes = read_specs(data_dir, split), read_scenes(data_dir, split)
    out = []
    for k, r in enumerate(records):
        if r["side"] != "image":
            continue
        edited = scene_from_json(r["scene"])
        swap = next((e for e in text_edits(specs[r["caption"]], scenes[r["image"]])
                     if "swap" in e.edit and caption_true(e.spec, edited)), None)
        if swap is not None:
            out.append({"id": len(out), "image_0": f"wino-{len(out)}-0",
                        "image_1": f"wino-{len(out)}-1", "caption_0": r["source"],
                        "caption_1": swap.spec.text(), "tag": r["edit"], "record": k,
                        "rows": [r["image"], r["edited_image"]]})
    return out


def write_winoground(out: Path, data_dir: Path, split: str, examples: list[dict]) -> None:
    """examples.jsonl and the examples' images as the precomp split WINOGROUND_SPLIT."""
    source = open_split(data_dir, split)
    edited, edited_boxes = read_edited_images(data_dir, split)
    feats, boxes = [], []
    for ex in examples:
        image, edited_row = ex.pop("rows")
        feats += [np.asarray(source.read_images([image])[0]), np.asarray(edited[edited_row])]
        boxes += [np.asarray(source.read_boxes([image])[0]), np.asarray(edited_boxes[edited_row])]
    out.mkdir(parents=True, exist_ok=True)
    name = WINOGROUND_SPLIT
    np.save(out / f"{name}_ims.npy", np.stack(feats).astype(source.base_images.dtype))
    np.save(out / f"{name}_boxes.npy", np.stack(boxes).astype(np.float32))
    write_text(out / f"{name}_ids.txt",
               "".join(f"{ex[f'image_{b}']}\n" for ex in examples for b in (0, 1)))
    write_text(out / f"{name}_caps.txt",
               "".join(f"{ex[f'caption_{b}']}\n" for ex in examples for b in (0, 1)))
    write_text(out / "examples.jsonl", "".join(json.dumps(ex) + "\n" for ex in examples))


def export_benchmarks(data_dir: str | Path, out: str | Path, split: str = "test") -> dict:
    """Write OUT (module docstring) from `split` of a synthetic folder; returns the counts."""
    data_dir, out = Path(data_dir), Path(out)
    _check_out(out)
    records = read_pairs(data_dir, split)
    ids = open_split(data_dir, split).ids
    if ids is None:
        raise OutputError(f"{data_dir}: split '{split}' has no {split}_ids.txt to name images")
    counts = {}
    (out / "sugarcrepe").mkdir(parents=True, exist_ok=True)
    for edit, mapping in sugarcrepe_files(records, ids).items():
        write_json(out / "sugarcrepe" / f"{edit}.json", mapping)
        counts[edit] = len(mapping)
    examples = winoground_examples(data_dir, split, records)
    if examples:
        write_winoground(out / "winoground", data_dir, split, examples)
    counts["winoground"] = len(examples)
    return counts
