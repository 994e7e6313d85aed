"""`ssamt train`: the two training phases of paper 3.2 on a precomp data folder."""

from __future__ import annotations

import argparse

from ssamt.commands.common import add_labels_cache_argument, apply_labels_cache, resolve_device

HELP = "train SSAMT: phase 1 (intra encoders, L0), phase 2 (inter encoder, L1-L3), or both"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, metavar="PRESET_OR_FILE",
                        help="preset (paper-f30k, paper-coco, synthetic) or a YAML file; "
                             "not needed with --resume or --phase inter (the run's own config)")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="precomp folder with train (and dev) splits")
    parser.add_argument("--out", required=True, metavar="RUN_DIR",
                        help="run folder: checkpoints, metrics.jsonl, config.yaml")
    parser.add_argument("--phase", default="both", choices=("intra", "inter", "both"),
                        help="intra: phase 1 only; inter: phase 2 from RUN_DIR/phase1.pt; "
                             "both (default)")
    parser.add_argument("--resume", action="store_true",
                        help="continue RUN_DIR/last.pt exactly where it stopped (on the same "
                             "--data: its fingerprint is checked)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results already in RUN_DIR (a started or finished "
                             "run; with --phase inter its phase-2 results) instead of refusing")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value, e.g. phase2.lr=1e-4 "
                        "(repeatable)")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda (default: cuda when available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_labels_cache_argument(parser)


def resolve_config(args: argparse.Namespace):
    """-> (TrainConfig, vocab dict or None): from the run's checkpoint when continuing."""
    from pathlib import Path

    from ssamt.errors import ConfigError
    from ssamt.train.checkpoint import LAST_NAME, PHASE1_NAME, load_checkpoint
    from ssamt.train.config import TrainConfig, apply_overrides, load_config
    from ssamt.train.validate import validate_config

    if args.resume or args.phase == "inter":
        if args.resume and args.overrides:
            raise ConfigError("--set cannot change a resumed run (it continues with its own config)")
        name = LAST_NAME if args.resume else PHASE1_NAME
        payload = load_checkpoint(Path(args.out) / name)
        data = apply_overrides(payload["train_config"], args.overrides)
        cfg = TrainConfig.from_dict(data)
        validate_config(cfg, f"{Path(args.out) / name} config")
        return cfg, payload["vocab"]
    if args.config is None:
        raise ConfigError("--config is required for a new run (a preset name or a YAML file)")
    cfg = load_config(args.config, args.overrides)
    validate_config(cfg, f"config {args.config}")
    return cfg, None


def preflight(args: argparse.Namespace, cfg) -> None:
    """Everything about RUN_DIR and DATA that can be refused before minutes of label parsing:
    the run's state (resume, finished phase 2, --overwrite) and, when continuing a run, that
    --data is the data it was trained on."""
    from pathlib import Path

    from ssamt.data.fingerprint import data_fingerprint
    from ssamt.train.runfolder import check_same_data
    from ssamt.train.runner import start_point

    if args.resume and args.overwrite:
        from ssamt.errors import ConfigError

        raise ConfigError("--resume continues a run and --overwrite starts it over: pick one")
    run_dir = Path(args.out)
    payload, _, _ = start_point(run_dir, args.phase, args.resume, args.overwrite)
    if payload is not None:
        check_same_data(payload.get("data_fingerprint"), data_fingerprint(args.data), run_dir,
                        "resume it" if args.resume else "continue it")


def run(args: argparse.Namespace) -> int:
    from ssamt.train.data import load_train_dev
    from ssamt.train.distributed import barrier, cleanup, init_from_env
    from ssamt.train.report import summary_lines
    from ssamt.train.runfolder import lock_run
    from ssamt.train.runner import train

    device = resolve_device(args.device)
    apply_labels_cache(args)
    cfg, vocab_dict = resolve_config(args)
    info = init_from_env(device)
    try:
        with lock_run(args.out) if info.is_main else _nothing():
            if info.is_main:
                preflight(args, cfg)
            else:  # rank 0 parses and caches the labels first
                barrier(info)
            train_data, dev_data, vocab = load_train_dev(
                args.data, cfg, vocab_dict, progress=not args.quiet and info.is_main)
            if info.is_main:
                barrier(info)
            result = train(cfg, train_data, dev_data, vocab, args.out, phase=args.phase,
                           resume=args.resume, overwrite=args.overwrite, device=device,
                           progress=not args.quiet, info=info)
        if info.is_main:
            print("\n".join(summary_lines(result, args.out)))
    finally:
        cleanup(info)
    return 0


def _nothing():
    import contextlib

    return contextlib.nullcontext()
