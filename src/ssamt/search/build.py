"""Build an index folder: the gallery encoded once by the intra encoders, in FAISS.

Folder layout (all written under a temporary name and renamed at the end, so a crash never
leaves a half-built index; an existing folder is only replaced when it is an index: its
manifest carries an index's format string, and it holds nothing but an index's files; a
symbolic link is never replaced):

    manifest.json          what it was built from (ssamt.search.manifest), the counts, and
                           each file's size and checksum (checked at every open)
    images.npy             (N_img, d) float32 L2-normalized a^I, row = image of the split
    captions.npy           (N_cap, d) float32 L2-normalized a^T, row = caption line
    images.faiss           FAISS index of images.npy (text -> image search)
    captions.faiss         FAISS index of captions.npy (image -> caption search)
    captions.jsonl         one CaptionGraph a line, so stage 2 of an image query reads only
    captions.offsets.npy   its candidates' parses (byte offset of each line, N_cap + 1)
    thumbs/                a photo gallery's (ssamt features) thumbnails, 000000.jpg, ...

The .npy embeddings are memory-mapped at search time: stage 2 reads only the rows of the
candidates, and `approx_recall` can compare an approximate index with exact search.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ssamt.data.fingerprint import split_fingerprint
from ssamt.data.precomp import open_split
from ssamt.data.split_labels import labels_for_split
from ssamt.data.tables import ImageTable, TextTable
from ssamt.errors import CheckpointError, ConfigError, DataError
from ssamt.features.photos import PhotoError
from ssamt.render.pictures import THUMB_SIDE, load_picture, photo_folder, thumb_path
from ssamt.retrieval.encode import encode_gallery
from ssamt.search.ann import KINDS, approx_recall, build_ann, import_faiss, save_ann
from ssamt.search.integrity import image_rows_by_id
from ssamt.search.manifest import (
    FORMAT,
    INDEX_FILES,
    MANIFEST,
    THUMBS,
    file_record,
    file_sha256,
    is_index_folder,
)
from ssamt.train.checkpoint import resolve_checkpoint
from ssamt.train.compat import check_data_fits
from ssamt.train.trained_run import load_run

RECALL_QUERIES = 1000  # queries sampled to measure an approximate index's recall@10


def check_ann_options(kind: str, ivf_nlist: int | None, num_images: int) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown index kind {kind!r} (choose from {', '.join(KINDS)})")
    if kind == "ivf" and ivf_nlist is not None and not 1 <= ivf_nlist <= num_images:
        raise ConfigError(f"--ivf-lists must be in 1..{num_images} (the gallery size)")


def _check_replaceable(out: Path) -> None:
    """DataError unless `out` is new, an empty folder, or an index folder: recognized by its
    manifest's format string (a file merely named manifest.json is not enough) and holding
    only what `ssamt index` writes, so a rebuild never deletes a file of the user's."""
    if out.is_symlink():  # replacing the link by a folder would leave its target stale
        raise DataError(out, "is a symbolic link: refusing to replace it (give the folder it "
                             "points to, or another --out)")
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not out.is_dir() or not is_index_folder(out):
        raise DataError(out, "exists and is not an ssamt index: refusing to replace it "
                             "(choose another --out)")
    ours = {MANIFEST, THUMBS, *INDEX_FILES}
    foreign = sorted(p.name for p in out.iterdir() if p.name not in ours)
    if foreign:
        raise DataError(out, f"is an ssamt index but also holds {foreign[0]!r}, which `ssamt "
                             "index` did not write: refusing to replace it (move that out, "
                             "or choose another --out)")


def _check_finite_embeddings(ckpt: Path, img: np.ndarray, txt: np.ndarray) -> None:
    """The model's embeddings must be finite (its inputs were checked as they were read, so
    NaN here comes from the weights): an index of NaN would rank nothing."""
    for what, emb in (("images", img), ("captions", txt)):
        bad = int(np.count_nonzero(~np.isfinite(emb).all(axis=1)))
        if bad:
            raise CheckpointError(ckpt, f"the model encodes {bad} {what} of the split to NaN "
                                        "or infinite vectors: its weights are damaged")


def _replace(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
        os.rename(out, old)
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_graphs(folder: Path, graphs: list[Any]) -> None:
    """captions.jsonl and the byte offset of each of its lines."""
    offsets = np.zeros(len(graphs) + 1, dtype=np.int64)
    with open(folder / "captions.jsonl", "wb") as handle:
        for j, graph in enumerate(graphs):
            handle.write(json.dumps(graph.to_json(), separators=(",", ":")).encode() + b"\n")
            offsets[j + 1] = handle.tell()
    np.save(folder / "captions.offsets.npy", offsets)


def write_thumbnails(folder: Path, split: Any, progress: bool) -> int:
    """Thumbnails of a photo gallery (one written by `ssamt features`), made once so the web
    app never reads a camera's full-size files; a photo that load_picture refuses (not a
    readable image, or not inside the photos folder) gets none. Returns how many were
    written."""
    photos = photo_folder(split)
    if photos is None:
        return 0
    folder.mkdir()
    count = 0
    rows = range(split.num_images)
    if progress:
        rows = tqdm(rows, desc="thumbnails", unit="img", leave=False)
    for i in rows:
        image_id = str(split.ids[i] if split.ids is not None else i)
        try:
            thumb_path(folder, i).write_bytes(load_picture(photos, image_id, THUMB_SIDE))
            count += 1
        except PhotoError:
            continue
    return count


def _ann_files(folder: Path, img: np.ndarray, txt: np.ndarray, kind: str,
               options: dict[str, Any], seed: int) -> dict[str, Any]:
    """Both FAISS indexes; for an approximate kind, recall@10 against exact search on up to
    RECALL_QUERIES sampled queries of the other modality (the queries a user would send)."""
    stats: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for name, emb, queries in (("images", img, txt), ("captions", txt, img)):
        index = build_ann(emb, kind, **options)
        save_ann(index, folder / f"{name}.faiss")
        if kind != "flat":
            pick = rng.choice(len(queries), min(RECALL_QUERIES, len(queries)), replace=False)
            stats[f"{name}_recall@10"] = approx_recall(index, emb, queries[np.sort(pick)], 10)
    return stats


def build_index(checkpoint: str | Path, data_dir: str | Path, out: str | Path, *,
                split: str = "test", kind: str = "flat", hnsw_m: int = 32,
                ivf_nlist: int | None = None, nprobe: int = 16, batch_size: int = 128,
                device: str = "cpu", progress: bool = False) -> dict[str, Any]:
    """Encode split `split` of `data_dir` with the run at `checkpoint` into the index folder
    `out` (module docstring). Returns the manifest."""
    import_faiss()  # fail before minutes of encoding
    out, ckpt = Path(out), resolve_checkpoint(checkpoint)
    _check_replaceable(out)
    t0 = time.perf_counter()
    data = open_split(data_dir, split)
    image_rows_by_id(data)  # ids that name one image each, before minutes of encoding
    check_ann_options(kind, ivf_nlist, data.num_images)
    run = load_run(ckpt, device)
    model, vocab = run.model, run.vocab
    check_data_fits(model.config, data, ckpt)
    graphs = labels_for_split(data_dir, split, progress=progress).graphs
    max_tokens = run.max_tokens
    img, txt = encode_gallery(model, ImageTable(data), TextTable(graphs, vocab, max_tokens),
                              batch_size=batch_size, device=device, progress=progress)
    img, txt = img.numpy(), txt.numpy()
    _check_finite_embeddings(ckpt, img, txt)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        np.save(tmp / "images.npy", img)
        np.save(tmp / "captions.npy", txt)
        write_graphs(tmp, graphs)
        thumbs = write_thumbnails(tmp / "thumbs", data, progress)
        options = {"hnsw_m": hnsw_m, "ivf_nlist": ivf_nlist, "nprobe": nprobe}
        recall = _ann_files(tmp, img, txt, kind, options, seed=0)
        manifest = {
            "format": FORMAT, "checkpoint": str(ckpt.resolve()),
            "checkpoint_sha256": file_sha256(ckpt), "data": str(Path(data_dir).resolve()),
            "split": split, "data_fingerprint": split_fingerprint(data),
            "num_images": data.num_images, "num_captions": data.num_captions,
            "captions_per_image": data.captions_per_image, "dim": int(img.shape[1]),
            "has_ids": data.ids is not None, "kind": kind, "thumbnails": thumbs,
            "options": options if kind != "flat" else {}, "recall": recall,
            "max_tokens": max_tokens, "seconds": round(time.perf_counter() - t0, 2),
            "files": {name: file_record(tmp / name) for name in INDEX_FILES}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _check_replaceable(out)  # again: the folder may have changed during the encoding
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest
