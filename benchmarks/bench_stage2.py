"""Stage-2 speed: the per-item batch assembly it replaced against the gather path,
side by side in one process, on the same gallery, pairs and model.

    python benchmarks/bench_stage2.py --preset synthetic            # CPU, small synthetic set
    python benchmarks/bench_stage2.py --preset paper-f30k --max-pairs 1024
    python benchmarks/bench_stage2.py --preset paper-f30k --data DIR --device cuda --bf16 \
        --k 128 --peak-tflops 989 --skip-old                       # H100: F30K-size gallery

The model has random weights from the preset (the speed does not depend on them); the
image projection takes the data's feature size (256 on the small synthetic set, not BUTD's
2048). Stage 1 (intra embeddings, top-K) runs once; then each path scores the same
candidate pairs `--reps` times, alternating, so load changes on a shared machine hit both.
A timer around model.inter + model.eq5_terms (with a device sync on CUDA) splits stage 2
into the model's forward and everything else (batch assembly, transfers, bookkeeping).
Prints a markdown table for BENCHMARKS.md ("Speed: stage 2 and phase 2").
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ssamt.data.batch import PHRASE_TYPE_IDS, ROLE_OBJECT, ROLE_SUBJECT, ImageBatch, TextBatch
from ssamt.data.tables import ImageTable, TextTable, kept_phrases
from ssamt.labels.graph import relation_roles
from ssamt.model import SSAMT
from ssamt.retrieval.encode import encode_gallery, eval_mode
from ssamt.retrieval.rerank import (
    TERM_COLUMNS,
    _pair_order,
    candidate_pairs,
    score_pair_terms,
    similarity,
    topk_rows,
)
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
    p.add_argument("--skip-old", action="store_true", help="time the gather path only")
    return p.parse_args(argv)


# ----- the per-item path the gather replaced, kept here only to measure against ----------

class OldTextTable:
    """TextTable.batch as it was: one caption at a time into numpy arrays on the host."""

    def __init__(self, table: TextTable) -> None:
        tokens, n_tok, types, n_ph, spans, n_span = [], [], [], [], [], []
        self._roles: list[tuple[list[int], list[int]]] = []  # per kept phrase: subj, obj
        for graph in table.graphs:
            ids = table.vocab.encode(graph.tokens[:table.max_tokens])
            tokens.extend(ids)
            n_tok.append(len(ids))
            kept = kept_phrases(graph, table.max_tokens, table.max_phrases)
            n_ph.append(len(kept))
            for p in kept:
                types.append(PHRASE_TYPE_IDS[graph.phrases[p].type])
                spans.extend(graph.phrases[p].span)
                n_span.append(len(graph.phrases[p].span))
                self._roles.append(relation_roles(graph, graph.phrases[p]))
        off = lambda n: np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        self._tokens, self._tok_off = np.asarray(tokens, np.int64), off(n_tok)
        self._types, self._ph_off = np.asarray(types, np.int64), off(n_ph)
        self._spans, self._span_off = np.asarray(spans, np.int64), off(n_span)
        self.costs = table.costs

    def batch(self, indices) -> TextBatch:
        idx = np.asarray(indices, dtype=np.int64).tolist()
        n_tok = [int(self._tok_off[j + 1] - self._tok_off[j]) for j in idx]
        n_ph = [int(self._ph_off[j + 1] - self._ph_off[j]) for j in idx]
        b, L, P = len(idx), max(n_tok, default=0) or 1, max(n_ph, default=0) or 1
        token_ids = np.zeros((b, L), dtype=np.int64)
        phrase_types = np.zeros((b, P), dtype=np.int64)
        spans = np.zeros((b, P, L), dtype=bool)
        roles = np.zeros((b, P, L), dtype=np.int8)
        for row, j in enumerate(idx):
            t0, p0, p1 = self._tok_off[j], self._ph_off[j], self._ph_off[j + 1]
            token_ids[row, : n_tok[row]] = self._tokens[t0 : t0 + n_tok[row]]
            phrase_types[row, : n_ph[row]] = self._types[p0:p1]
            s_off = self._span_off[p0 : p1 + 1]
            which = np.repeat(np.arange(p1 - p0), np.diff(s_off))
            spans[row, which, self._spans[s_off[0] : s_off[-1]]] = True
            for k, (subj, obj) in enumerate(self._roles[p0:p1]):
                roles[row, k, [t for t in subj if t < L]] = ROLE_SUBJECT
                roles[row, k, [t for t in obj if t < L]] = ROLE_OBJECT
        tok, types = torch.from_numpy(token_ids), torch.from_numpy(phrase_types)
        return TextBatch(tok, tok.new_tensor(n_tok).unsqueeze(1) > torch.arange(L), types,
                         types != 0, torch.from_numpy(spans), torch.from_numpy(roles))


def old_score_pair_terms(model, image_table: ImageTable, text_table: OldTextTable, img_emb,
                         txt_emb, pairs, *, image_ids, caption_ids, batch_size, device,
                         autocast=None) -> torch.Tensor:
    """score_pair_terms before the gather: per batch a memmap read, a host-side text batch,
    a host->device copy of both, the terms copied back."""
    import contextlib

    order = _pair_order(text_table, caption_ids, pairs)
    chunks = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    out = torch.empty(len(pairs), len(TERM_COLUMNS), dtype=torch.float32)
    cast = (torch.autocast(torch.device(device).type, dtype=autocast) if autocast
            else contextlib.nullcontext())
    with eval_mode(model), torch.inference_mode(), cast:
        for pos in chunks:
            i, j = pairs[pos, 0], pairs[pos, 1]
            img = image_table.batch(image_ids[i.numpy()]).to(device)
            txt = text_table.batch(caption_ids[j.numpy()]).to(device)
            terms = model.eq5_terms(img_emb[i].to(device), txt_emb[j].to(device),
                                    model.inter(img, txt))
            out[torch.from_numpy(pos)] = terms.float().cpu()
    return out


# ----- timing ----------------------------------------------------------------------------

class ForwardTimer:
    """Wraps model.inter and model.eq5_terms: seconds inside them (synced on CUDA) and the
    forward FLOPs of the batches they saw."""

    def __init__(self, model: SSAMT, device: torch.device) -> None:
        self.model, self.cuda = model, device.type == "cuda"
        self.seconds, self.flops = 0.0, 0.0
        self._inter, self._terms = model.inter, model.eq5_terms
        model.inter = self._timed(self._inter, count=True)
        model.eq5_terms = self._timed(self._terms, count=False)

    def _timed(self, fn, count: bool):
        def run(*args):
            if self.cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = fn(*args)
            if self.cuda:
                torch.cuda.synchronize()
            self.seconds += time.perf_counter() - t0
            if count:
                self.flops += forward_flops(self.model.config, *args)
            return out
        return run

    def reset(self) -> None:
        self.seconds, self.flops = 0.0, 0.0


def forward_flops(cfg, img: ImageBatch, txt: TextBatch) -> float:
    """Matmul FLOPs of the inter encoder's forward over a padded batch."""
    b, r = img.regions.shape[:2]
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
    old_texts = OldTextTable(texts)
    t0 = time.perf_counter()
    img_emb, txt_emb = encode_gallery(model, images, texts, batch_size=args.batch_size,
                                      device=device)
    intra = similarity(img_emb, txt_emb)
    k = min(args.k, len(texts), len(images))
    pairs = candidate_pairs(topk_rows(intra, k), topk_rows(intra.T, k), len(texts))
    if args.max_pairs:
        pairs = pairs[: args.max_pairs]
    stage1 = time.perf_counter() - t0
    ids_i, ids_c = np.arange(len(images)), np.arange(len(texts))
    cast = torch.bfloat16 if args.bf16 else None
    kw = {"image_ids": ids_i, "caption_ids": ids_c, "batch_size": args.batch_size,
          "device": device, "autocast": cast}
    paths = {
        "before (per-item assembly)": lambda: old_score_pair_terms(
            model, images, old_texts, img_emb, txt_emb, pairs, **kw),
        "after (gather on the device)": lambda: score_pair_terms(
            model, images, texts, img_emb, txt_emb, pairs, **kw),
    }
    if args.skip_old:
        paths.pop("before (per-item assembly)")
    timer = ForwardTimer(model, device)
    warm = pairs[: min(len(pairs), 2 * args.batch_size)]
    score_pair_terms(model, images, texts, img_emb, txt_emb, warm, **kw)  # warm-up
    runs: dict[str, list[dict]] = {name: [] for name in paths}
    for _ in range(args.reps):
        for name, fn in paths.items():
            runs[name].append(run_path(fn, timer, device))
    name_dev = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    print(f"# {args.preset} (random weights), {len(images)} images x {len(texts)} captions "
          f"({split.num_regions} regions x {split.feature_dim}), K={k}, {len(pairs):,} pairs, "
          f"batch {args.batch_size}; {args.device} ({name_dev}), "
          f"{'bf16 autocast' if args.bf16 else 'fp32'}, torch {torch.__version__}; "
          f"stage 1 {stage1:.1f} s")
    if len(runs) == 2:
        a, b = (r[-1]["terms"] for r in runs.values())
        print(f"max |terms before - after| = {float((a - b).abs().max()):.2e}")
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
