"""Every file of one split of a data folder, named in one place.

A split is more than its precomp files (ssamt.data.precomp.split_paths): a synthetic split
has its scenes, caption specs and minimal pairs (ssamt.data.synth.minimal.minimal_paths), a
split of photos its `{split}_photos.json` (the photo folder, for pictures), and any split
its label caches (ssamt.labels.store.label_cache_paths), its minimal pairs' too. Two rules
read this list:

* a command that reads a split writes no output over any of these files
  (`split_files`, for ssamt.fileio.check_output);
* writing a new split over an old one (ssamt.data.precomp_writer) replaces the precomp
  files and removes every other file made from the old split (`made_from_split`), so no
  file is left describing other images.
"""

from __future__ import annotations

import json
from pathlib import Path

from ssamt.data.precomp import split_paths
from ssamt.data.synth.minimal import minimal_paths
from ssamt.labels.store import default_label_cache_paths, label_cache_paths


def photos_manifest(data_dir: str | Path, split: str) -> Path:
    """`{split}_photos.json`: the folder of the photos a split of `ssamt features` was made
    from (an image's id is its photo's path there)."""
    return Path(data_dir) / f"{split}_photos.json"


def photos_root(data_dir: str | Path, split: str) -> Path | None:
    """The photo folder `{split}_photos.json` names, or None (no manifest, or unreadable)."""
    try:
        root = json.loads(photos_manifest(data_dir, split).read_text(encoding="utf-8"))["root"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Path(root) if isinstance(root, str) and root else None


def minimal_cache_name(split: str) -> str:
    """The name the label cache of a split's minimal pairs goes by, as if a split of its
    own (ssamt.pipelines.analysis.minimal_run parses their edited captions)."""
    return f"{split}_minimal"


def label_caches(data_dir: str | Path, split: str,
                 cache_dir: str | Path | None = None) -> list[Path]:
    """Every place a label cache of `split` (and of its minimal pairs) may be: where this
    process looks (the --labels-cache folder, when given) and the default places beside the
    data and in the user cache, which other runs read even when this one does not."""
    found: list[Path] = []
    for name in (split, minimal_cache_name(split)):
        for path in [*label_cache_paths(data_dir, name, cache_dir),
                     *default_label_cache_paths(data_dir, name)]:
            if path not in found:
                found.append(path)
    return found


def split_files(data_dir: str | Path, split: str,
                cache_dir: str | Path | None = None) -> list[Path]:
    """Every file a command may read of `split` (existing or not): its precomp files, photo
    manifest, scenes, caption specs, minimal pairs and label caches."""
    return [*split_paths(data_dir, split).values(), photos_manifest(data_dir, split),
            *minimal_paths(data_dir, split).values(), *label_caches(data_dir, split, cache_dir)]


def made_from_split(data_dir: str | Path, split: str) -> list[Path]:
    """The files besides the precomp ones that describe the images of `split`: a new split
    written over it removes them. Label caches count where they belong to this data folder
    alone (default_label_cache_paths); one in a --labels-cache folder is left alone, as
    any other folder's file (it is keyed by the captions' hash, so it is never read for
    other captions)."""
    return [photos_manifest(data_dir, split), *minimal_paths(data_dir, split).values(),
            *default_label_cache_paths(data_dir, split),
            *default_label_cache_paths(data_dir, minimal_cache_name(split))]
