"""`ssamt info`: parameter counts of a model preset, per part."""

from __future__ import annotations

import argparse

HELP = "print the parameter counts of a model preset (embeddings, encoders, total)"

PAPER_TOTAL = 64.7e6  # paper section 3.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="paper-coco", metavar="PRESET_OR_FILE",
                        help="training preset (paper-f30k, paper-coco, synthetic) or a YAML "
                             "file: its model section (default paper-coco)")
    parser.add_argument("--vocab-size", type=int, default=9568,
                        help="vocabulary size (default 9,568)")
    parser.add_argument("--d-region", type=int, default=None,
                        help="region feature size (default: the config's, else 2048 as BUTD)")
    parser.add_argument("--d-box", type=int, default=None,
                        help="box geometry size (default: the config's, else 0 = no boxes)")


def run(args: argparse.Namespace) -> int:
    import torch

    from ssamt.model import SSAMT
    from ssamt.train.config import load_config

    model = load_config(args.config).model  # the schema every command reads
    d_region = args.d_region or model.d_region or 2048  # BUTD region features
    d_box = model.d_box if args.d_box is None and model.d_box is not None else (args.d_box or 0)
    config = model.with_data(vocab_size=args.vocab_size, d_region=d_region, d_box=d_box)
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        counts = SSAMT(config).num_parameters()
    print(f"model preset {args.config}: vocab {config.vocab_size:,}, d {config.d_model}, "
          f"{config.n_layers} layers, {config.n_heads} heads, FFN {config.d_ffn}, "
          f"d_region {config.d_region}")
    for name, n in counts.items():
        print(f"  {name:<22} {n:>13,}")
    if args.config.startswith("paper"):
        paper = counts["total"] - counts.get("phrase grounding", 0)
        note = " without the phrase-grounding head (ssamt's)" if paper != counts["total"] else ""
        print(f"  paper (3.2): 64.7M; this model{note} {paper:,}, {paper / PAPER_TOTAL - 1:+.1%}")
    return 0
