"""Small helpers shared by the command modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ssamt.bounds import EQ5_WEIGHT_LIMIT, THREADS_PER_CPU, max_threads
from ssamt.text import printable  # noqa: F401 (the commands import it from here)


def note_captions_dropped(stats: dict) -> None:
    """The note of a split writer (features, import-butd) whose images had more captions
    than the one with the fewest: the precomp format keeps one count for all."""
    if stats.get("captions_dropped"):
        print(f"note: each image keeps its first {stats['captions']} captions, as many as the "
              f"image with the fewest; {stats['captions_dropped']} captions left out")


def use_free_cpus(device: str) -> None:
    """Before a training on the CPU: torch threads for the CPUs other processes leave free
    (ssamt.train.cpu_threads), never more than torch's own default; a note on stderr when
    that is fewer."""
    import torch

    from ssamt.train.cpu_threads import training_threads

    if torch.device(device).type != "cpu":
        return
    wanted, default = training_threads(), torch.get_num_threads()
    if wanted is None or wanted >= default:
        return
    print(f"ssamt: {default - wanted} of {default} CPUs busy with other work: training with "
          f"{wanted} torch thread{'s' * (wanted > 1)} (OMP_NUM_THREADS=N sets the number)",
          file=sys.stderr, flush=True)
    torch.set_num_threads(wanted)


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; a CUDA name without a GPU is an error."""
    import torch

    from ssamt.errors import ConfigError

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {name!r} is not a device name (cpu, cuda, cuda:1, ...)") \
            from None
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} asked for, but torch sees no CUDA device")
    return name


def check_ranges(args: argparse.Namespace, minimum: dict[str, float] | None = None,
                 finite: tuple[str, ...] = (),
                 within: dict[str, tuple[float, float]] | None = None) -> None:
    """ConfigError naming the flag when a numeric argument is below its minimum, not finite
    (`--mu1 nan` would rank silently by NaN) or outside its (low, high) range, both
    included (`within`). Absent or None arguments pass."""
    import math

    from ssamt.errors import ConfigError

    minimum, within = minimum or {}, within or {}
    for name in (*minimum, *finite, *within):
        value = getattr(args, name, None)
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if not math.isfinite(value):
            raise ConfigError(f"{flag} must be a finite number, got {value}")
        if name in minimum and value < minimum[name]:
            raise ConfigError(f"{flag} must be >= {minimum[name]}, got {value}")
        if name in within and not within[name][0] <= value <= within[name][1]:
            low, high = within[name]
            raise ConfigError(f"{flag} must be between {low} and {high}, got {value}")


# Eq. 5's weights as flags (evaluate, explain): the range the config's loss.mu1 / mu2 have.
EQ5_WEIGHT_FLAGS = {name: (-EQ5_WEIGHT_LIMIT, EQ5_WEIGHT_LIMIT) for name in ("mu1", "mu2")}


def add_eq5_weight_arguments(parser: argparse.ArgumentParser) -> None:
    """--mu1 and --mu2 of every command that ranks with Eq. 5; check them with
    `check_ranges(args, within=EQ5_WEIGHT_FLAGS)`."""
    bound = f"between -{EQ5_WEIGHT_LIMIT} and {EQ5_WEIGHT_LIMIT}"
    parser.add_argument("--mu1", type=float, default=None,
                        help=f"Eq. 5 weight of cos(h^I, h^T), {bound} (default: from the "
                             "checkpoint)")
    parser.add_argument("--mu2", type=float, default=None,
                        help=f"Eq. 5 weight of the local scores, {bound} (default: from the "
                             "checkpoint)")


def add_labels_cache_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels-cache", default=None, metavar="DIR",
                        help="folder of the caption label caches (default: next to the data, "
                             "or ~/.cache/ssamt/labels/ when the data folder is read-only)")


def apply_labels_cache(args: argparse.Namespace) -> None:
    """--labels-cache DIR for every label lookup of this command, and of the worker
    processes it starts (an environment variable: they inherit it)."""
    import os

    if getattr(args, "labels_cache", None):
        from ssamt.labels.store import CACHE_ENV

        os.environ[CACHE_ENV] = str(args.labels_cache)


def input_files(checkpoint: str | None, data_dir: str, splits: str | Sequence[str],
                labels_cache: str | None = None) -> list[Path]:
    """The files a command reads: the checkpoint (a run folder's checkpoints, and the part
    levels cached beside them), the data folder itself and every file of the splits it
    reads (ssamt.data.split_files: precomp files, scenes, caption specs, minimal pairs,
    photo manifest, label caches wherever --labels-cache or the defaults put them). No
    output may be one of them (ssamt.fileio.check_outputs)."""
    from ssamt.data.split_files import split_files
    from ssamt.pipelines.part_levels import CACHE_NAME

    files = [Path(data_dir)]
    for split in [splits] if isinstance(splits, str) else splits:
        files += split_files(data_dir, split, labels_cache)
    if checkpoint is not None:
        run = Path(checkpoint)
        folder = run if run.is_dir() else run.parent
        files += [folder / name for name in ("best.pt", "last.pt", "phase1.pt")] \
            if run.is_dir() else [run]
        files.append(folder / CACHE_NAME)
    return files


def add_searcher_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every command that opens an index (`ssamt search`, `ssamt serve`)."""
    parser.add_argument("--checkpoint", default=None, metavar="RUN",
                        help="the index's checkpoint, if it moved since the build")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="the index's data folder, if it moved since the build")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ... (default: cpu)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch and FAISS, 1 to "
                             f"{THREADS_PER_CPU} per CPU of this machine (default 1: one "
                             "query's tensors are small, and a second thread waits for a free "
                             "core)")


def check_searcher_arguments(args: argparse.Namespace) -> None:
    """The checks of add_searcher_arguments' options, before the index is opened."""
    check_ranges(args, within={"threads": (1, max_threads())})
