"""`ssamt info`: parameter counts of a model preset, per part."""

from __future__ import annotations

import argparse

HELP = "print the parameter counts of a model preset (embeddings, encoders, total)"

PAPER_TOTAL = 64.7e6  # paper section 3.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="paper-coco",
                        help="model preset: paper-f30k, paper-coco or small (default paper-coco)")
    parser.add_argument("--vocab-size", type=int, default=9568,
                        help="vocabulary size (default 9,568)")
    parser.add_argument("--d-region", type=int, default=None,
                        help="region feature size (default: the preset's)")


def run(args: argparse.Namespace) -> int:
    import torch

    from ssamt.model import SSAMT, model_config

    overrides = {} if args.d_region is None else {"d_region": args.d_region}
    config = model_config(args.config, args.vocab_size, **overrides)
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        counts = SSAMT(config).num_parameters()
    print(f"model preset {args.config}: vocab {config.vocab_size:,}, d {config.d_model}, "
          f"{config.n_layers} layers, {config.n_heads} heads, FFN {config.d_ffn}, "
          f"d_region {config.d_region}")
    for name, n in counts.items():
        print(f"  {name:<22} {n:>13,}")
    if args.config.startswith("paper"):
        print(f"  paper (3.2): 64.7M; this model {counts['total'] / PAPER_TOTAL - 1:+.1%}")
    return 0
