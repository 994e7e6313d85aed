"""`ssamt train`: the two training phases of paper 3.2 on a precomp data folder."""

from __future__ import annotations

import argparse

from ssamt.commands.common import (
    add_labels_cache_argument,
    apply_labels_cache,
    resolve_device,
    use_free_cpus,
)

HELP = "train SSAMT: phase 1 (intra encoders, L0), phase 2 (inter encoder, L1-L3), or both"
PHASE_ARGS = {"1": "phase1", "2": "phase2", "both": "both"}
# What --set may change when phase 2 continues a phase-1 checkpoint: not the architecture,
# the vocabulary or phase 1, which the checkpoint fixed.
PHASE2_KEYS = ("recipe", "phase2.", "loss.", "eval.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, metavar="PRESET_OR_FILE",
                        help="preset (paper-coco, paper-f30k, ssamt-coco, ssamt-f30k, "
                             "synthetic) or a YAML file; --resume and --phase 2 continue the "
                             "run's own config, and refuse another")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="precomp folder with train (and dev) splits")
    parser.add_argument("--out", required=True, metavar="RUN_DIR",
                        help="run folder: checkpoints, metrics.jsonl, config.yaml")
    parser.add_argument("--phase", default="both", choices=tuple(PHASE_ARGS),
                        help="1: phase 1 only (intra encoders); 2: phase 2 only, from "
                             "RUN_DIR/phase1.pt (--set may change the recipe and the phase2, "
                             "loss and eval sections); both (default)")
    parser.add_argument("--resume", action="store_true",
                        help="continue RUN_DIR/last.pt exactly where it stopped (on the same "
                             "--data: its fingerprint is checked)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results already in RUN_DIR (a started or finished "
                             "run; with --phase 2 its phase-2 results) instead of refusing")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value, e.g. phase2.lr=1e-4 "
                        "(repeatable)")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda (default: cuda when available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_labels_cache_argument(parser)


def continues(args: argparse.Namespace) -> bool:
    """--resume or --phase 2: the config and vocabulary come from the run's checkpoint."""
    return bool(args.resume or args.phase == "2")


def check_arguments(args: argparse.Namespace) -> None:
    """The refusals that need the arguments only (before the run folder is locked or read)."""
    from ssamt.errors import ConfigError

    if args.resume and args.overwrite:
        raise ConfigError("--resume continues a run and --overwrite starts it over: pick one")
    if args.resume and args.overrides:
        raise ConfigError("--set cannot change a resumed run (it continues with its own config)")
    if not args.resume and args.phase == "2":
        fixed = [item for item in args.overrides
                 if not item.split("=", 1)[0].strip().startswith(PHASE2_KEYS)]
        if fixed:
            raise ConfigError(f"--set {fixed[0]}: phase 2 continues phase1.pt, which fixed the "
                              "model, the vocabulary and phase 1; only recipe, phase2.*, loss.* "
                              "and eval.* can change")
    if not continues(args) and args.config is None:
        raise ConfigError("--config is required for a new run (a preset name or a YAML file)")


def new_config(args: argparse.Namespace, device: str):
    """A new run's TrainConfig: --config with --set, checked; and a model too large for the
    device refused before the data is read (the memory check with the data's sizes follows
    when training starts)."""
    from ssamt.train.config import load_config
    from ssamt.train.resources import check_memory, phases_of
    from ssamt.train.validate import validate_config

    cfg = load_config(args.config, args.overrides)
    validate_config(cfg, f"config {args.config}")
    check_memory(cfg, device, phases_of(PHASE_ARGS[args.phase]), source=f"config {args.config}")
    return cfg


def continued_config(args: argparse.Namespace, start):
    """-> (TrainConfig, vocab dict) of a continued run, from the checkpoint that
    ssamt.train.trainer.start_point read (start.settings: last.pt on --resume, phase1.pt for
    --phase 2), with --set applied (--phase 2 only)."""
    from pathlib import Path

    from ssamt.train.checkpoint import LAST_NAME, PHASE1_NAME
    from ssamt.train.config import (
        TrainConfig,
        apply_overrides,
        load_config,
        upgrade_stored_config,
    )
    from ssamt.train.validate import validate_config

    name = LAST_NAME if args.resume else PHASE1_NAME
    stored = apply_overrides(upgrade_stored_config(start.settings["train_config"]),
                             args.overrides)
    if args.config is not None:
        check_same_as_stored(load_config(args.config, args.overrides), stored,
                             Path(args.out) / name)
    cfg = TrainConfig.from_dict(stored)
    validate_config(cfg, f"{Path(args.out) / name} config")
    return cfg, start.settings["vocab"]


def check_same_as_stored(given, stored: dict, checkpoint) -> None:
    """A --config given to a continued run must be the run's own (the name aside): a run
    continues the config of its checkpoint, so another would be silently ignored."""
    from ssamt.errors import ConfigError
    from ssamt.train.config import TrainConfig

    mine = TrainConfig.from_dict(stored).to_dict()
    theirs = given.to_dict()
    for section in mine:
        if section == "name":
            continue
        a, b = mine[section], theirs.get(section)
        keys = sorted(a) if isinstance(a, dict) else [None]
        for key in keys:
            old, new = (a, b) if key is None else (a[key], (b or {}).get(key))
            if old != new:
                where = section if key is None else f"{section}.{key}"
                raise ConfigError(f"--config gives {where} = {new!r}, but {checkpoint} was "
                                  f"trained with {old!r}: a continued run keeps its own config "
                                  "(leave out --config; with --phase 2, --set may change the "
                                  "recipe, phase2, loss and eval keys)")


def preflight(args: argparse.Namespace, start) -> None:
    """When continuing a run, that --data is the data it was trained on: refused before
    minutes of label parsing. (The run's state, resume, finished phase 2 and --overwrite,
    were checked by start_point.)"""
    from pathlib import Path

    from ssamt.data.precomp import open_split
    from ssamt.train.run_folder import check_same_data

    if start.payload is not None:
        check_same_data(start.payload.get("data_fingerprint"), open_split(args.data, "train"),
                        Path(args.out), "resume it" if args.resume else "continue it")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ssamt.train.data import load_train_dev
    from ssamt.train.distributed import barrier, cleanup, init_from_env
    from ssamt.train.report import summary_lines
    from ssamt.train.run_folder import lock_run
    from ssamt.train.trainer import start_point, train

    device = resolve_device(args.device)
    apply_labels_cache(args)
    check_arguments(args)
    cfg = None if continues(args) else new_config(args, device)
    use_free_cpus(device)
    info = init_from_env(device)
    try:
        with lock_run(args.out) if info.is_main else _nothing():
            # The run folder's checkpoint, read once: for the config, the checks and training.
            start = start_point(Path(args.out), PHASE_ARGS[args.phase], args.resume,
                                args.overwrite)
            vocab_dict = None
            if cfg is None:
                cfg, vocab_dict = continued_config(args, start)
            if info.is_main:
                preflight(args, start)
            else:  # rank 0 parses and caches the labels first
                barrier(info)
            train_data, dev_data, vocab = load_train_dev(
                args.data, cfg, vocab_dict, progress=not args.quiet and info.is_main)
            if info.is_main:
                barrier(info)
            result = train(cfg, train_data, dev_data, vocab, args.out, phase=PHASE_ARGS[args.phase],
                           resume=args.resume, overwrite=args.overwrite, device=device,
                           progress=not args.quiet, info=info, start=start)
        if info.is_main:
            print("\n".join(summary_lines(result, args.out)))
            _store_part_levels(args, device)
    finally:
        cleanup(info)
    return 0


def _store_part_levels(args: argparse.Namespace, device: str) -> None:
    """Measure explain's part levels now, while the training data is at hand, and cache them
    beside best.pt: explain then has them on any data folder, a gallery of one's own photos
    without captions included (ssamt.pipelines.part_levels). Only after phase 2."""
    from ssamt.pipelines.part_levels import CACHE_NAME, part_levels_for
    from ssamt.train.trained_run import load_run

    run = load_run(args.out, device)
    if run.phase != "phase2":
        return
    levels = part_levels_for(run, args.data, device=device)
    if levels is not None and not args.quiet:
        print(f"part levels for explain: {levels.images} training images, "
              f"{run.path.parent / CACHE_NAME}")


def _nothing():
    import contextlib

    return contextlib.nullcontext()
