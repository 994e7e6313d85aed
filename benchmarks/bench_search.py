"""Search latency against a 100,000-image index: stage 1 alone and with re-ranking.

    python benchmarks/bench_search.py --index index/synth --images 100000 --queries 20

Opens a real index (its trained model, vocabulary and data) and swaps its image index for
one of `--images` random unit vectors of the model's width: stage 1 (parse, encode the query,
FAISS search) then runs at that size. Stage 2 scores the top 32 with the real inter encoder
on real region features: candidate i reads image i mod N of the index's split, since a
100,000-image feature file is not needed to time 32 forward passes (stage 2 does not depend
on the gallery size). Also prints the resident memory of the opened 100,000-image FAISS
index (flat, and HNSW with --hnsw) and stage 1 at the paper's width 1024 (FAISS only).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ssamt.search import Searcher
from ssamt.search.ann import build_ann, load_ann, save_ann, search


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class TiledImages:
    """The index's ImageTable seen as `n` images: image i is image i mod N."""

    def __init__(self, table, n: int) -> None:
        self.table, self.n, self.real = table, n, len(table)

    def __len__(self) -> int:
        return self.n

    def batch(self, indices):
        return self.table.batch(np.asarray(indices) % self.real)


class TiledSplit:
    """Just what Searcher.text reads of a split, for `n` images (no ids)."""

    def __init__(self, split, n: int) -> None:
        self.split, self.n, self.ids = split, n, None
        self.captions_per_image = split.captions_per_image

    def image_captions(self, i: int) -> list[str]:
        return self.split.image_captions(i % self.split.num_images)


def unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def tile_gallery(searcher: Searcher, n: int, split_type: type = TiledSplit) -> np.ndarray:
    """Make an opened Searcher a gallery of `n` images: its image index becomes a flat index
    of `n` random unit vectors of the model's width (returned), image i reads the region
    features and captions of image i mod N of the index's split."""
    emb = unit_rows(n, searcher.image_emb.shape[1])
    searcher.image_index = build_ann(emb, "flat")
    searcher.image_emb = emb
    searcher.image_table = TiledImages(searcher.image_table, n)
    searcher.split = split_type(searcher.split, n)
    return emb


def index_memory(emb: np.ndarray, kind: str) -> tuple[float, float]:
    """(build seconds, MB resident after loading the saved index in this process)."""
    t0 = time.perf_counter()
    index = build_ann(emb, kind)
    build_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        save_ann(index, Path(tmp) / "x.faiss")
        del index
        before = rss_mb()
        loaded = load_ann(Path(tmp) / "x.faiss")
        mb = rss_mb() - before
        del loaded
    return build_s, mb


def time_queries(searcher: Searcher, queries: list[str], rerank_k: int) -> dict[str, float]:
    wall, s1, s2 = [], [], []
    for q in queries:
        t0 = time.perf_counter()
        res = searcher.text(q, k=10, rerank_k=rerank_k)
        wall.append(time.perf_counter() - t0)
        s1.append(res.seconds["stage1"])
        s2.append(res.seconds["stage2"])
    return {"wall": statistics.median(wall), "stage1": statistics.median(s1),
            "stage2": statistics.median(s2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", required=True, help="an index folder built by `ssamt index`")
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--hnsw", action="store_true", help="also an HNSW index (slow to build)")
    p.add_argument("--threads", type=int, default=None, help="torch and FAISS threads")
    p.add_argument("--paper", action="store_true",
                   help="also stage 2 of the paper-size model (random weights, COCO shapes)")
    args = p.parse_args()

    searcher = Searcher.open(args.index, threads=args.threads)
    emb = tile_gallery(searcher, args.images)
    d = emb.shape[1]
    queries = list(dict.fromkeys(searcher.split.split.captions))[: args.queries]
    searcher.text(queries[0], k=10, rerank_k=32)  # warm up: spaCy, torch, FAISS
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"(shared), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{args.images} images, d={d}, {len(queries)} text queries, k=10; medians:")
    for rk in (0, 32):
        t = time_queries(searcher, queries, rk)
        print(f"  rerank_k={rk:2d}: total {1000 * t['wall']:.1f} ms (stage 1 {1000 * t['stage1']:.1f} "
              f"ms: encode + FAISS; stage 2 {1000 * t['stage2']:.1f} ms; the rest is parsing)")
    for kind in ("flat", "hnsw") if args.hnsw else ("flat",):
        build_s, mb = index_memory(emb, kind)
        print(f"  {kind} index of {args.images} x {d}: built in {build_s:.1f} s, "
              f"{mb:.0f} MB resident when opened")
    wide = unit_rows(args.images, 1024, seed=1)
    index = build_ann(wide, "flat")
    q = unit_rows(len(queries), 1024, seed=2)
    times = []
    for row in q:
        t0 = time.perf_counter()
        search(index, row[None], 32)
        times.append(time.perf_counter() - t0)
    print(f"  paper width d=1024, flat FAISS search alone: {1000 * statistics.median(times):.1f} "
          f"ms per query ({wide.nbytes / 2**20:.0f} MB of vectors)")
    if args.paper:
        paper_stage2(k=32)
    print(f"process RSS at the end: {rss_mb():.0f} MB")


def paper_stage2(k: int = 32, repeats: int = 5) -> None:
    """Stage 2 of one query at the paper's size: the inter encoder and Eq. 5 on k pairs of
    36 BUTD regions (2048-d) and a 12-word caption with 6 phrases, random weights."""
    import _tests_path  # noqa: F401  (puts tests/ on sys.path)
    from random_batches import random_image_batch, random_text_batch

    from ssamt.model.scores import PairScores
    from ssamt.model.ssamt import SSAMT
    from ssamt.train.config import load_config

    config = load_config("paper-coco").model.with_data(vocab_size=9568, d_region=2048, d_box=0)
    model = SSAMT(config).eval()
    g = torch.Generator().manual_seed(0)
    img = random_image_batch(k, 36, 2048, generator=g, full=True)
    txt = random_text_batch(k, 12, 6, 9568, generator=g, full=True)
    a_img, a_txt = torch.randn(k, 1024), torch.randn(k, 1024)
    times = []
    with torch.inference_mode():
        PairScores.of(a_img, a_txt, model.inter(img, txt)).eq5(0.3, 0.1)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            PairScores.of(a_img, a_txt, model.inter(img, txt)).eq5(0.3, 0.1)
            times.append(time.perf_counter() - t0)
    print(f"  paper-size model (d 1024, 2 layers, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M "
          f"parameters): stage 2 of {k} pairs {1000 * statistics.median(times):.0f} ms "
          f"({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
