"""Two-stage ranking: recall and time for several K, side by side (DESIGN.md "Inference at scale").

    python benchmarks/bench_rerank.py --checkpoint runs/synth --data data/synth-small \
        --split test --ks 32 64 128 --exhaustive --json /tmp/rerank.json
    python benchmarks/bench_rerank.py --scale 5000x25000   # stage 1 + metrics at COCO 5K size

The gallery is encoded once; each K then re-ranks the same embeddings, so the columns differ
only by stage 2. Prints a markdown table (paste into BENCHMARKS.md, section Retrieval).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import torch

from ssamt.data.precomp import open_split
from ssamt.data.tables import ImageTable, TextTable
from ssamt.fileio import write_json
from ssamt.retrieval.encode import encode_gallery
from ssamt.retrieval.evaluate import evaluate_tables
from ssamt.train.trained_run import load_run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="checkpoint file or run folder")
    p.add_argument("--data", help="precomp data folder")
    p.add_argument("--scale", default=None, metavar="NIMGxNCAP",
                   help="no model: time stage 1, top-K and metrics on random 1024-d embeddings")
    p.add_argument("--split", default="test")
    p.add_argument("--protocol", default="f30k", choices=("f30k", "coco1k", "coco5k"))
    p.add_argument("--ks", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--exhaustive", action="store_true", help="also K = all pairs")
    p.add_argument("--max-images", type=int, default=0, help="first N images only (0 = all)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--json", default=None, help="write all results here")
    args = p.parse_args(argv)
    if not args.scale and not (args.checkpoint and args.data):
        p.error("--checkpoint and --data are required (or --scale)")
    return args


def bench_scale(shape: str, ks: list[int], d: int = 1024) -> None:
    """Stage-1 cost without a model: similarity, both top-K searches, the per-direction
    ranking matrices and the recalls, on random unit vectors (captions 5 per image)."""
    import resource

    import numpy as np

    from ssamt.retrieval import rerank
    from ssamt.retrieval.metrics import recall_from_scores

    n_img, n_cap = (int(x) for x in shape.lower().split("x"))
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(n_img, d, generator=g), dim=1)
    txt = torch.nn.functional.normalize(torch.randn(n_cap, d, generator=g), dim=1)
    c2i = np.arange(n_cap) * n_img // n_cap
    t = time.perf_counter()
    intra = rerank.similarity(img, txt)
    print(f"{n_img} x {n_cap}, d={d}, {torch.get_num_threads()} threads")
    print(f"similarity: {time.perf_counter() - t:.1f}s")
    for k in ks:
        t = time.perf_counter()
        i2t_top, t2i_top = rerank._top_candidates(intra, img, txt, k, k, "torch")
        pairs = rerank.candidate_pairs(i2t_top, t2i_top, n_cap)
        t_search = time.perf_counter() - t
        values = torch.randn(len(pairs))  # stands in for Eq. 5
        i2t, t2i = rerank._direction_scores(intra, pairs, values, i2t_top, t2i_top)
        t_rank = time.perf_counter() - t - t_search
        recall_from_scores(i2t, t2i, c2i)
        t_metric = time.perf_counter() - t - t_search - t_rank
        print(f"K={k}: {len(pairs)} pairs; top-K + union {t_search:.1f}s, ranking matrices "
              f"{t_rank:.1f}s, recalls {t_metric:.1f}s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak:.2f} GB")


def load_gallery(args: argparse.Namespace, vocab, max_tokens: int) -> tuple:
    """(ImageTable, TextTable, caption_to_image) of the split, cut to --max-images."""
    from ssamt.data.split_labels import labels_for_split

    split = open_split(args.data, args.split)
    graphs = labels_for_split(args.data, args.split).graphs
    if args.max_images:
        n = min(args.max_images, split.num_images)
        split = split.subset(range(n))  # captions of images 0..n-1 are the first lines
        graphs = graphs[: split.num_captions]
    return ImageTable(split), TextTable(graphs, vocab, max_tokens=max_tokens), split.caption_image


def markdown(rows: list[dict]) -> str:
    head = ("| K | pairs scored | stage 2 s | i2t R@1 | R@5 | R@10 | t2i R@1 | R@5 | R@10 "
            "| RSum | RSum gap |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        m = r.get("reranked", r["intra"])
        cells = [m[f"{d}_R@{k}"] for d in ("i2t", "t2i") for k in (1, 5, 10)]
        gap = r.get("gap", {}).get("rsum", 0.0)
        lines.append(f"| {r['label']} | {r['pairs_scored']} | {r['seconds']['stage2']:.1f} | "
                     + " | ".join(f"{c:.1f}" for c in cells) + f" | {m['rsum']:.1f} | {gap:+.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.scale:
        bench_scale(args.scale, args.ks)
        return 0
    run = load_run(args.checkpoint, args.device)
    model = run.model
    mu1, mu2 = run.eq5_weights()
    images, texts, c2i = load_gallery(args, run.vocab, run.max_tokens)
    t0 = time.perf_counter()
    emb = encode_gallery(model, images, texts, batch_size=args.batch_size, device=args.device)
    encode_s = time.perf_counter() - t0
    plan = [(0, "0 (intra only)")] + [(k, str(k)) for k in args.ks]
    if args.exhaustive:
        plan.append((None, "all"))
    rows = []
    for k, label in plan:
        r = evaluate_tables(model, images, texts, c2i, protocol=args.protocol, k=k, mu1=mu1,
                            mu2=mu2, batch_size=args.batch_size, device=args.device,
                            embeddings=emb)
        rows.append({"label": label, **r})
        print(f"K={label}: rsum {r.get('reranked', r['intra'])['rsum']:.1f}, "
              f"stage 2 {r['seconds']['stage2']:.1f}s", file=sys.stderr)
    print(f"{len(images)} images, {len(texts)} captions, protocol {args.protocol}, "
          f"mu1={mu1} mu2={mu2}; encode once {encode_s:.1f}s; "
          f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"device {args.device}\n")
    print(markdown(rows))
    if args.json:
        write_json(args.json, {"encode_seconds": encode_s, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
