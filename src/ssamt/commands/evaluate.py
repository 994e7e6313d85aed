"""`ssamt evaluate`: recall of a trained model, stage 1 and two-stage re-ranked (paper Table 1)."""

from __future__ import annotations

import argparse
import sys

from ssamt.commands.common import (
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
    parser.add_argument("--mu1", type=float, default=None,
                        help="Eq. 5 weight of cos(h^I, h^T) (default: from the checkpoint)")
    parser.add_argument("--mu2", type=float, default=None,
                        help="Eq. 5 weight of the local scores (default: from the checkpoint)")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="also write results here ('-': stdout, the table then goes to "
                             "stderr); checked writable before the evaluation starts")
    parser.add_argument("--batch-size", type=int, default=128,
                        help="images (captions x4) or pairs per forward pass (default 128)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto)")
    parser.add_argument("--search", default="torch", choices=("torch", "faiss"),
                        help="top-K candidate search (faiss needs the optional extra)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_labels_cache_argument(parser)


def run(args: argparse.Namespace) -> int:
    from ssamt.data.precomp import open_split
    from ssamt.data.split_labels import labels_for_split
    from ssamt.fileio import check_output, is_stdout, write_json
    from ssamt.retrieval.evaluate import (
        describe_eq5,
        eq5_source,
        eq5_weights,
        evaluate_model,
        format_results,
    )
    from ssamt.retrieval.protocols import DEFAULT_SPLIT
    from ssamt.retrieval.scene_truth import split_truth
    from ssamt.train.checkpoint import load_model_info
    from ssamt.train.compat import check_data_fits, note_phase1, oov_rate, warn_oov

    check_ranges(args, {"rerank_k": 0, "batch_size": 1}, finite=("mu1", "mu2"))
    split_name = args.split or DEFAULT_SPLIT[args.protocol]
    # Before minutes of evaluation, not after; and never over the checkpoint or the data.
    check_output(args.json, input_files(args.checkpoint, args.data, split_name))
    apply_labels_cache(args)
    device = resolve_device(args.device)
    progress = not args.quiet and sys.stderr.isatty()
    model, vocab, config, info = load_model_info(args.checkpoint, device)
    mu1, mu2 = eq5_weights(config, args.mu1, args.mu2)
    split = open_split(args.data, split_name)
    check_data_fits(model.config, split, info.path)  # before parsing and encoding anything
    k = None if args.exhaustive else args.rerank_k
    if k != 0 and note_phase1(info.phase, info.path):
        k = 0
    # Cached next to the data after the first run (spaCy parsing is the slow part).
    graphs = labels_for_split(args.data, split_name, progress=progress).graphs
    oov = oov_rate(graphs, vocab)
    warn_oov(oov, info.path, f"{args.data} ({split_name})")
    max_tokens = config.get("model", {}).get("max_tokens") if isinstance(config, dict) else None
    result = evaluate_model(
        model, vocab, split, graphs, protocol=args.protocol, k=k, mu1=mu1, mu2=mu2,
        max_tokens=max_tokens, batch_size=args.batch_size, device=device,
        progress=progress, search=args.search,
        truth=split_truth(args.data, split_name),  # synthetic data: scene-truth R@K too
    )
    result = {"checkpoint": str(info.path), "data": str(args.data), "device": device,
              "checkpoint_phase": info.phase, "train_data_fingerprint": info.data_fingerprint,
              "oov_rate": round(oov, 4), "mu_source": eq5_source(config, args.mu1, args.mu2),
              **result}
    table_to = sys.stderr if is_stdout(args.json) else sys.stdout
    print(format_results(result), file=table_to)
    if result.get("k") != 0:
        print(describe_eq5(config, args.mu1, args.mu2), file=table_to)
    if args.json:
        write_json(args.json, result)
        if not is_stdout(args.json):
            print(f"wrote {args.json}")
    return 0
