"""Stage-2 speed: the batched pair scorer (retrieval.pair_scores) on one gallery's
candidate pairs, split into the model's forward and everything else.

    python benchmarks/bench_stage2.py --preset synthetic            # CPU, small synthetic set
    python benchmarks/bench_stage2.py --preset ssamt-f30k --max-pairs 1024
    python benchmarks/bench_stage2.py --preset ssamt-f30k --data DIR --device cuda --bf16 \
        --k 128 --peak-tflops 989                                  # GPU: F30K-size gallery

The model has random weights from the preset (the speed does not depend on them); the
image projection takes the data's feature size (256 on the small synthetic set, not BUTD's
2048). Stage 1 (intra embeddings, top-K) runs once; then the scorer scores the candidate
pairs `--reps` times. A timer around model.inter (with a device sync on CUDA) splits stage
2 into the model's forward and everything else (batch assembly, transfers, bookkeeping).
Prints a markdown table for BENCHMARKS.md ("Speed").
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from ssamt.data.batch import ImageBatch, TextBatch
from ssamt.data.tables import ImageTable, TextTable
from ssamt.model import SSAMT
from ssamt.retrieval.encode import encode_gallery
from ssamt.retrieval.pair_scores import score_pairs
from ssamt.retrieval.rerank import candidate_pairs, similarity, topk_rows
from ssamt.train.config import load_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="synthetic", help="model preset (synthetic, paper-f30k, ...)")
    p.add_argument("--data", default=None, help="precomp folder (default: generate --size)")
    p.add_argument("--size", default="small", help="synthetic size generated when no --data")
    p.add_argument("--split", default="test")
    p.add_argument("--images", type=int, default=0, help="first N images of the split (0 = all)")
    p.add_argument("--k", type=int, default=16, help="candidates per query (both directions)")
    p.add_argument("--max-pairs", type=int, default=0, help="score only the first N pairs")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--peak-tflops", type=float, default=None, help="for the fraction of peak")
    return p.parse_args(argv)


# ----- timing ----------------------------------------------------------------------------

class ForwardTimer:
    """Wraps model.inter: seconds inside it (synced on CUDA) and the forward FLOPs of the
    batches it saw."""

    def __init__(self, model: SSAMT, device: torch.device) -> None:
        self.model, self.cuda = model, device.type == "cuda"
        self.seconds, self.flops = 0.0, 0.0
        inter = model.inter

        def timed(img, txt, rows=None):
            if self.cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = inter(img, txt) if rows is None else inter(img, txt, rows=rows)
            if self.cuda:
                torch.cuda.synchronize()
            self.seconds += time.perf_counter() - t0
            self.flops += forward_flops(self.model.config, img, txt, rows)
            return out

        model.inter = timed

    def reset(self) -> None:
        self.seconds, self.flops = 0.0, 0.0


def forward_flops(cfg, img: ImageBatch, txt: TextBatch, rows=None) -> float:
    """Matmul FLOPs of the inter encoder's forward over a padded batch of pairs (rows: each
    pair's image and caption in the distinct ones, SSAMT.inter)."""
    b, r = img.regions.shape[:2]
    if rows is not None:
        b = len(rows[0])
    s = 2 + r + txt.token_ids.shape[1] + txt.phrase_types.shape[1]
    d = cfg.d_model
    per_token = 2 * (4 * d * d + 2 * d * cfg.d_ffn) + 2 * 2 * s * d
    return cfg.n_layers * b * s * per_token + 2 * cfg.d_region * d * b * r


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_path(fn, timer: ForwardTimer, device: torch.device) -> dict:
    timer.reset()
    sync(device)
    w0, c0 = time.perf_counter(), time.process_time()
    terms = fn()
    sync(device)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"wall": wall, "cpu": cpu, "forward": timer.seconds, "flops": timer.flops,
            "terms": terms}


def load(args: argparse.Namespace):
    from ssamt.data.precomp import open_split
    from ssamt.data.split_labels import labels_for_split
    from ssamt.data.vocab import Vocab

    data = args.data
    if data is None:
        from ssamt.data.synth.generator import generate

        data = Path.home() / ".cache" / "ssamt" / f"bench-synth-{args.size}"
        if not (data / f"{args.split}_ims.npy").exists():
            generate(data, size=args.size, seed=0, progress=False)
    split = open_split(data, args.split)
    graphs = labels_for_split(data, args.split, opened=split).graphs
    if args.images:
        split = split.subset(range(min(args.images, split.num_images)))
        graphs = graphs[: split.num_captions]
    return split, graphs, Vocab.build((g.tokens for g in graphs), min_count=1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    split, graphs, vocab = load(args)
    cfg = load_config(args.preset).model
    box_dim = 0 if split.base_boxes is None else int(split.base_boxes.shape[2])
    mcfg = cfg.with_data(vocab_size=len(vocab), d_region=split.feature_dim, d_box=box_dim)
    torch.manual_seed(0)
    model = SSAMT(mcfg).to(device).eval()
    images = ImageTable(split)
    texts = TextTable(graphs, vocab, max_tokens=mcfg.max_tokens)
    t0 = time.perf_counter()
    img_emb, txt_emb = encode_gallery(model, images, texts, batch_size=args.batch_size,
                                      device=device)
    intra = similarity(img_emb, txt_emb)
    k = min(args.k, len(texts), len(images))
    pairs = candidate_pairs(topk_rows(intra, k), topk_rows(intra.T, k), len(texts))
    if args.max_pairs:
        pairs = pairs[: args.max_pairs]
    stage1 = time.perf_counter() - t0
    kw = {"img_emb": img_emb, "txt_emb": txt_emb, "batch_size": args.batch_size,
          "device": device, "autocast": torch.bfloat16 if args.bf16 else None}
    timer = ForwardTimer(model, device)
    score_pairs(model, images, texts, pairs[: min(len(pairs), 2 * args.batch_size)], **kw)
    runs = {"pair scorer": [run_path(lambda: score_pairs(model, images, texts, pairs, **kw),
                                     timer, device) for _ in range(args.reps)]}
    name_dev = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    print(f"# {args.preset} (random weights), {len(images)} images x {len(texts)} captions "
          f"({split.num_regions} regions x {split.feature_dim}), K={k}, {len(pairs):,} pairs, "
          f"batch {args.batch_size}; {args.device} ({name_dev}), "
          f"{'bf16 autocast' if args.bf16 else 'fp32'}, torch {torch.__version__}; "
          f"stage 1 {stage1:.1f} s")
    print("| path | wall s | CPU s | pairs/s | pairs per CPU-s | forward s "
          "| outside the forward | TFLOP/s | fraction of peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rs in runs.items():
        best = min(rs, key=lambda r: r["wall"])  # least disturbed by the other jobs
        n = len(pairs)
        tflops = best["flops"] / best["wall"] / 1e12
        peak = f"{tflops / args.peak_tflops:.1%}" if args.peak_tflops else "n/a"
        print(f"| {name} | {best['wall']:.2f} | {best['cpu']:.2f} | {n / best['wall']:,.0f} | "
              f"{n / max(best['cpu'], 1e-9):,.0f} | {best['forward']:.2f} | "
              f"{1 - best['forward'] / best['wall']:.1%} | {tflops:.3f} | {peak} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
