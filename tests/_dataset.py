"""A data folder holding every kind of file a split can have, for the tests of outputs that
must never replace a command's inputs: the tiny synthetic folder (precomp files, scenes,
caption specs, minimal pairs), plus label caches, a photo manifest and a file of the user's.
The label caches are only their names' worth: the commands refuse before reading them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def make_dataset(root: Path) -> Path:
    """root/data (returned) and root/photos, the folder its test_photos.json names."""
    from ssamt.data.synth.generator import generate

    data = generate(root / "data", size="tiny", seed=0, progress=False)
    photos = root / "photos"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"a photo")
    (data / "test_photos.json").write_text(json.dumps({"root": str(photos)}) + "\n")
    for name in ("test_labels.jsonl", "test_minimal_labels.jsonl", "train_labels.jsonl"):
        (data / name).write_text(f"a label cache: {name}\n")
    (data / "notes.txt").write_text("the user's notes\n")
    return data


def copy_dataset(data: Path, root: Path) -> Path:
    """A copy of `data` (and its photo folder) under `root`, for a test that may change it;
    its photo manifest names the copied photos."""
    shutil.copytree(data.parent / "photos", root / "photos")
    copy = Path(shutil.copytree(data, root / "data"))
    (copy / "test_photos.json").write_text(json.dumps({"root": str(root / "photos")}) + "\n")
    return copy


def snapshot(*folders: Path) -> dict[str, bytes]:
    """Every file under `folders` by path, with its bytes."""
    return {str(p): p.read_bytes() for folder in folders for p in sorted(folder.rglob("*"))
            if p.is_file()}


def one_line(err: str) -> str:
    """`err` after checking it is a single line (the command's error), no traceback."""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err
