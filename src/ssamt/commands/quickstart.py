"""`ssamt quickstart`: the whole pipeline on built-in synthetic data in one command.

generate data -> parse captions into phrase labels -> phase 1 -> phase 2 -> evaluate on the
test split -> report.md (Table 1 layout, config, timings) and curves.png.
"""

from __future__ import annotations

import argparse

HELP = "run the whole pipeline on built-in synthetic data (minutes on a laptop CPU)"

# Per data size: overrides of the `synthetic` preset. "tiny" is a 1-2 minute smoke run.
SIZE_OVERRIDES: dict[str, list[str]] = {
    "tiny": ["phase1.max_steps=60", "phase1.warmup_steps=6", "phase1.token_budget=2048",
             "phase2.max_steps=20", "phase2.warmup_steps=2", "phase2.token_budget=1024",
             "eval.max_images=100", "eval.rerank_k=5", "loss.negatives_m=5"],
    "small": [],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="ssamt-quickstart", metavar="DIR",
                        help="folder for data, run and report (default ./ssamt-quickstart)")
    parser.add_argument("--size", default="small", choices=tuple(SIZE_OVERRIDES),
                        help="small: 3,000 training images (default, 6-12 min on 2 idle CPU "
                             "cores); "
                             "tiny: 200 (a 1-2 minute smoke test)")
    parser.add_argument("--seed", type=int, default=0, help="data and training seed (default 0)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a value of the synthetic preset")
    parser.add_argument("--device", default="auto", help="cpu, cuda (default: cuda when available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ssamt.commands.common import check_ranges, resolve_device, use_free_cpus
    from ssamt.pipelines.quickstart import run_quickstart

    check_ranges(args, {"seed": 0})
    device = resolve_device(args.device)
    use_free_cpus(device)
    import torch

    # The parser gets as many processes as training gets threads: the CPUs left free.
    result = run_quickstart(args.out, size=args.size, seed=args.seed,
                            overrides=SIZE_OVERRIDES[args.size] + list(args.overrides),
                            device=device, progress=not args.quiet,
                            workers=torch.get_num_threads())
    print(result["table"])
    print(f"total {result['seconds']['total']:.0f} s; report: {result['report']}")
    return 0
