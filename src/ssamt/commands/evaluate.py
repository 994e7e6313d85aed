"""`ssamt evaluate`: recall of a trained model, stage 1 and two-stage re-ranked (paper Table 1)."""

from __future__ import annotations

import argparse
import sys

from ssamt.commands.common import (
    EQ5_WEIGHT_FLAGS,
    add_eq5_weight_arguments,
    add_labels_cache_argument,
    apply_labels_cache,
    check_ranges,
    input_files,
    resolve_device,
)

HELP = "evaluate a checkpoint: R@1/5/10 both directions and RSum, intra-only and re-ranked"

DEFAULT_K = 128


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="RUN",
                        help="checkpoint file, or a run folder (its best.pt, else last.pt)")
    parser.add_argument("--data", required=True, metavar="DIR", help="precomp data folder")
    parser.add_argument("--protocol", default="f30k", choices=("f30k", "coco1k", "coco5k"),
                        help="f30k: the split as is; coco1k: mean of 5 folds; coco5k: all "
                             "(default: f30k)")
    parser.add_argument("--split", default=None,
                        help="split to rank (default: test for f30k, testall for coco1k/5k)")
    k = parser.add_mutually_exclusive_group()
    k.add_argument("--rerank-k", type=int, default=DEFAULT_K, metavar="K",
                   help=f"candidates per query re-scored with Eq. 5 (default {DEFAULT_K}; "
                        "0 = intra dual encoder only)")
    k.add_argument("--exhaustive", action="store_true",
                   help="score every pair with Eq. 5 (N_img x N_cap inter-encoder passes)")
    add_eq5_weight_arguments(parser)
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="also write results here ('-': stdout, the table then goes to "
                             "stderr); checked writable before the evaluation starts")
    parser.add_argument("--batch-size", type=int, default=128,
                        help="images (captions x4) or pairs per forward pass (default 128)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto)")
    parser.add_argument("--bf16", action="store_true",
                        help="re-rank under bf16 autocast, as phase 2 trains on a GPU (CUDA "
                             "only; scores differ from float32 in the third digit)")
    parser.add_argument("--search", default="torch", choices=("torch", "faiss"),
                        help="top-K candidate search (faiss needs the optional extra)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_labels_cache_argument(parser)


def run(args: argparse.Namespace) -> int:
    from ssamt.errors import ConfigError
    from ssamt.fileio import check_outputs, is_stdout, write_json
    from ssamt.pipelines.evaluation import evaluate_run
    from ssamt.retrieval.evaluate import format_results
    from ssamt.retrieval.protocols import DEFAULT_SPLIT
    from ssamt.train.trained_run import load_run

    check_ranges(args, {"rerank_k": 0, "batch_size": 1}, within=EQ5_WEIGHT_FLAGS)
    split_name = args.split or DEFAULT_SPLIT[args.protocol]
    # Before minutes of evaluation, not after; and never over the checkpoint or the data.
    check_outputs({"--json": args.json},
                  input_files(args.checkpoint, args.data, split_name, args.labels_cache))
    apply_labels_cache(args)
    device = resolve_device(args.device)
    if args.bf16 and not device.startswith("cuda"):
        raise ConfigError(f"--bf16 needs a CUDA device (--device is {device}; on a CPU bf16 "
                          "is slower than float32)")
    progress = not args.quiet and sys.stderr.isatty()
    run = load_run(args.checkpoint, device)
    result = evaluate_run(run, args.data, split_name, protocol=args.protocol,
                          k=None if args.exhaustive else args.rerank_k, mu1=args.mu1,
                          mu2=args.mu2, batch_size=args.batch_size, device=device,
                          progress=progress, search=args.search, bf16=args.bf16)
    table_to = sys.stderr if is_stdout(args.json) else sys.stdout
    print(format_results(result), file=table_to)
    if result.get("k") != 0:
        print(run.describe_eq5(args.mu1, args.mu2), file=table_to)
    if args.json:
        write_json(args.json, result)
        if not is_stdout(args.json):
            print(f"wrote {args.json}")
    return 0
