"""Synthetic scenes in the precomp format: a dataset that trains on a CPU in minutes.

`generate(out_dir, size, seed)` writes train/dev/test/testall splits (features, captions,
ids, boxes, and the ground-truth scenes as JSON lines), deterministic for a seed, and for
dev/test/testall their minimal pairs (minimal.py; their own random streams). The
folder is written under a temporary name and renamed at the end, so a crash never leaves a
half-written dataset; an existing folder is only written into when it is empty or was
written by this generator (it has the marker file, whose "files" list is the manifest of
what the generator wrote). Then only the files of that manifest are replaced or removed:
anything else in the folder (the user's notes, label caches) stays. Temporary folders of a
killed run (`.NAME.tmp-PID-*`, PID no longer running) are removed by the next run.

Sizes (images; test is the first images of testall, as COCO's 1K test is of its 5K):
  tiny    train 200,    dev 100,   testall 250,   R=12, D=128, float32 (tests, seconds)
  small   train 3,000,  dev 500,   testall 1,000, R=16, D=256, float32 (quick start)
  medium  train 30,000, dev 1,000, testall 5,000, R=36, D=512, float16 (about 1.4 GB)
Real data has R=36, D=2048; the reader takes any R and D.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import random
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ssamt.data.npyfile import read_header
from ssamt.data.synth.draw import CAPTIONS_PER_IMAGE, GENERATORS, draw_image
from ssamt.data.synth.features import prototype_bank, render_features
from ssamt.data.synth.minimal import MINIMAL_SPLITS, MINIMAL_VERSION, write_minimal_pairs
from ssamt.data.synth.sizes import SIZES, SynthSize
from ssamt.errors import ConfigError, DataError, OutputError

MARKER = "ssamt-synth.json"
GENERATOR_VERSION = 1  # the default generator; `--generator 2` writes version 2 (draw.py)
_CHUNK = 512  # images rendered at once: bounds memory (512 x 36 x 512 floats = 38 MB)


# Generated in this order; test is then copied from the start of testall.
_GENERATED = ("train", "dev", "testall")


def generate(out_dir: str | os.PathLike, size: str = "tiny", seed: int = 0,
             progress: bool = False, generator: int = GENERATOR_VERSION) -> Path:
    """Write a synthetic precomp dataset to `out_dir`; returns its path.

    Besides the precomp files, dev, test and testall get minimal pairs (minimal.py),
    drawn from their own random streams: the other files do not change."""
    if size not in SIZES:
        raise ConfigError(f"unknown synthetic size {size!r} (choose from {', '.join(SIZES)})")
    if seed < 0:
        raise ConfigError(f"the seed must be >= 0, got {seed}")
    if generator not in GENERATORS:
        raise ConfigError(f"unknown generator {generator!r} (choose from "
                          f"{', '.join(map(str, GENERATORS))})")
    out = Path(out_dir)
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()  # (not mkdtemp: its 0700 mode would stick to the renamed folder)
    try:
        _write_all(tmp, SIZES[size], seed, progress, generator)
        write_minimal_pairs(tmp, SIZES[size], seed, generator)
        files = sorted(p.name for p in tmp.iterdir())
        (tmp / MARKER).write_text(json.dumps(
            {"generator": "ssamt.data.synth", "version": generator, "size": size,
             "seed": seed, **asdict(SIZES[size]), "minimal_pairs": MINIMAL_VERSION,
             "files": files}, indent=2) + "\n")
        _replace(tmp, out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            # Disk full mid-write carries no file name: say which dataset failed, and why.
            raise OutputError(out, f"cannot write the dataset ({exc.strerror or exc}); "
                                   "its temporary files were removed") from None
        raise
    return out


def check_replaceable(out: Path) -> None:
    """DataError unless `generate` may write `out`: new, empty, or its own earlier output."""
    if out.exists() and not out.is_dir():
        raise DataError(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise DataError(out, "exists, is not empty and was not written by `ssamt synth`; "
                             "refusing to overwrite it (choose another folder)")


def _replace(tmp: Path, out: Path) -> None:
    """Move the new dataset in: a rename when `out` is new or empty, else file by file over
    the files the previous generator run wrote (its manifest), the marker last."""
    if not out.exists() or not any(out.iterdir()):
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
        return
    old = set(manifest(out))
    new = [p.name for p in tmp.iterdir() if p.name != MARKER]
    for name in new:
        os.replace(tmp / name, out / name)
    for name in old - set(new) - {MARKER}:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
    os.replace(tmp / MARKER, out / MARKER)  # last: marks the folder complete
    tmp.rmdir()


def manifest(folder: Path) -> list[str]:
    """The files `generate` wrote into `folder` (its marker's list; for a marker from before
    the list, the generator's fixed file names)."""
    try:
        files = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        files = None
    if isinstance(files, list) and all(isinstance(f, str) and "/" not in f for f in files):
        return [*files, MARKER]
    suffixes = ("ims.npy", "boxes.npy", "caps.txt", "ids.txt", "scenes.jsonl")
    return [f"{s}_{x}" for s in (*_GENERATED, "test") for x in suffixes] + [MARKER]


def remove_leftovers(out: Path) -> None:
    """Delete temporary folders of earlier `generate` runs into `out` whose process is gone
    (killed; a finished or failed run removes its own)."""
    for kind in ("tmp", "old"):  # .old-PID: the folder an earlier version moved aside
        for path in out.parent.glob(f".{glob.escape(out.name)}.{kind}-*"):
            pid = path.name.rsplit(f".{kind}-", 1)[1].split("-")[0]
            if path.is_dir() and not _running(pid):
                shutil.rmtree(path, ignore_errors=True)


def _running(pid: str) -> bool:
    """Whether process `pid` of this machine runs (a name from before pids: not running)."""
    if not pid.isdigit() or len(pid) > 9:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_all(folder: Path, cfg: SynthSize, seed: int, progress: bool,
               generator: int = GENERATOR_VERSION) -> None:
    bank = prototype_bank(seed, cfg.dim)
    total = sum(cfg.images(s) for s in _GENERATED)
    bar = _progress_bar(total, progress)
    try:
        for split in _GENERATED:
            _write_split(folder, split, cfg, seed, bank, bar, generator)
        _copy_prefix(folder, "testall", "test", cfg.test)
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None

    return tqdm(total=total, unit="img", desc="synth")


def _npy_header(handle, shape: tuple[int, ...], dtype: np.dtype) -> None:
    np.lib.format.write_array_header_1_0(
        handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                 "fortran_order": False, "shape": shape})


def _write_split(folder: Path, split: str, cfg: SynthSize, seed: int, bank: np.ndarray,
                 bar, generator: int = GENERATOR_VERSION) -> None:
    """Scenes, captions, features and boxes of one split, rendered _CHUNK images at a time
    and appended to the .npy files with plain writes (writing through a memmap would keep
    the whole file resident in this process)."""
    n, R = cfg.images(split), cfg.regions
    rng = random.Random(f"ssamt-synth:{seed}:{split}")  # str seeds are stable across runs
    noise_rng = np.random.default_rng([seed, _GENERATED.index(split)])
    with open(folder / f"{split}_ims.npy", "wb") as ims, \
            open(folder / f"{split}_boxes.npy", "wb") as boxes, \
            open(folder / f"{split}_caps.txt", "w", encoding="utf-8") as caps, \
            open(folder / f"{split}_ids.txt", "w") as ids, \
            open(folder / f"{split}_scenes.jsonl", "w", encoding="utf-8") as scenes:
        _npy_header(ims, (n, R, cfg.dim), np.dtype(cfg.dtype))
        _npy_header(boxes, (n, R, 4), np.dtype(np.float32))
        for start in range(0, n, _CHUNK):
            b = min(_CHUNK, n - start)
            coef = np.empty((b, R, bank.shape[0]), np.float32)
            noise = np.empty((b, R), np.float32)
            box = np.empty((b, R, 4), np.float32)
            for j in range(b):
                d = draw_image(rng, cfg.objects, R, generator)
                coef[j], noise[j], box[j] = d.coef, d.noise, d.boxes
                caps.writelines(c.text() + "\n" for c in d.specs)
                ids.write(f"synth-{split}-{start + j:06d}\n")
                scenes.write(json.dumps(d.scene.to_json()) + "\n")
            feats = render_features(coef, noise, bank, noise_rng)
            ims.write(feats.astype(cfg.dtype, copy=False).tobytes())
            boxes.write(box.tobytes())
            if bar is not None:
                bar.update(b)


def _copy_prefix(folder: Path, src: str, dst: str, n: int) -> None:
    """dst = the first n images of src (all files), copied in chunks."""
    for suffix in ("ims", "boxes"):
        shape, dtype, _, offset = read_header(folder / f"{src}_{suffix}.npy")
        remaining = n * int(np.prod(shape[1:])) * dtype.itemsize
        with open(folder / f"{src}_{suffix}.npy", "rb") as fin, \
                open(folder / f"{dst}_{suffix}.npy", "wb") as fout:
            _npy_header(fout, (n, *shape[1:]), dtype)
            fin.seek(offset)
            while remaining:
                block = fin.read(min(remaining, 1 << 24))
                if not block:
                    raise DataError(folder / f"{src}_{suffix}.npy", "truncated while copying")
                fout.write(block)
                remaining -= len(block)
    for name, per_image in (("caps.txt", CAPTIONS_PER_IMAGE), ("ids.txt", 1),
                            ("scenes.jsonl", 1)):
        with open(folder / f"{src}_{name}", encoding="utf-8") as fin, \
                open(folder / f"{dst}_{name}", "w", encoding="utf-8") as fout:
            fout.writelines(next(fin) for _ in range(n * per_image))


def add_minimal_pairs(data_dir: str | Path) -> Path:
    """Write the minimal-pair files into an existing `ssamt synth` folder (its marker gives
    size, seed and generator); DataError when it is not one."""
    folder = Path(data_dir)
    marker = folder / MARKER
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        raise DataError(marker, "missing or unreadable: not a folder written by "
                                "`ssamt synth`") from None
    if meta.get("generator") != "ssamt.data.synth" or meta.get("size") not in SIZES:
        raise DataError(marker, "not a marker of `ssamt synth`")
    write_minimal_pairs(folder, SIZES[meta["size"]], int(meta["seed"]),
                        int(meta.get("version", 1)))
    meta["minimal_pairs"] = MINIMAL_VERSION
    written = {f"{split}_{suffix}" for split in MINIMAL_SPLITS for suffix in (
        "minimal.jsonl", "minimal_ims.npy", "minimal_boxes.npy", "capspecs.jsonl")}
    meta["files"] = sorted((set(manifest(folder)) - {MARKER}) | written)  # a regenerate replaces them
    marker.write_text(json.dumps(meta, indent=2) + "\n")
    return folder
