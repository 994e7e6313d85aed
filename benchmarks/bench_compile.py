"""Eager against `torch.compile`, side by side in one run: seconds per update of phase 1 and
phase 2 and stage-2 pairs/s, for each preset asked.

    python benchmarks/bench_compile.py --data QS/data [--presets synthetic paper-f30k] \
        [--reps 3] [--device cpu] [--set paper-f30k:phase1.token_budget=8192 ...]

For each preset: its model (random weights: speed does not depend on them) on the data's
training split; one batch of each hot loop at the preset's own sizes, drawn as training
draws them (phase 1: a token-budget batch of pairs; phase 2: the preset's recipe, a
micro-batch of its token budget; stage 2: `eval.batch_size` pairs of dev captions with
`eval.rerank_k` candidate images each, as the scorer batches them). Each is timed eager,
then compiled (`torch.compile` of the same callable: the phase's criterion, the model's
inter encoder); the first compiled call pays the compilation and is reported apart. A
phase's update is `accum_steps` micro-batches, so s/update = accum_steps x s/micro-batch.
The last columns say whether the compiled outputs equal the eager ones and how many
calls (micro-batches, stage-2 batches) of one shape the compilation takes to pay for itself. Every batch of a new
shape compiles again (token-budget batches differ in shape), so the payback is per shape.
Prints a markdown table (BENCHMARKS.md, "Compiled steps").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="precomp folder with train and dev")
    p.add_argument("--presets", nargs="+", default=["synthetic", "paper-f30k"])
    p.add_argument("--reps", type=int, default=3, help="timed calls after the first")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="PRESET:KEY=VALUE",
                   help="override a value of one preset (e.g. a smaller token budget)")
    return p.parse_args(argv)


def timed(fn: Callable[[], torch.Tensor], reps: int,
          device: torch.device) -> tuple[float, float, torch.Tensor]:
    """(first call s, median of the next `reps` calls s, last output) of fn()."""
    times, out = [], None
    for _ in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times[0], statistics.median(times[1:]), out


def training_step(criterion: torch.nn.Module, batch, weights: dict[str, float],
                  params: list[torch.nn.Parameter]) -> Callable[[], torch.Tensor]:
    """Forward and backward of one micro-batch -> the loss terms, detached (N,)."""
    def step() -> torch.Tensor:
        for p in params:
            p.grad = None
        terms = criterion(batch)
        sum(w * terms[n] for n, w in weights.items() if n in terms).backward()
        return torch.stack([terms[n].detach() for n in sorted(terms)])
    return step


def load_preset(name: str, data_dir: str, overrides: list[str], device: torch.device):
    from ssamt.train.config import load_config
    from ssamt.train.data import load_split
    from ssamt.train.trainer import build_model

    cfg = load_config(name, overrides=[o.split(":", 1)[1] for o in overrides
                                       if o.split(":", 1)[0] == name])
    train, vocab = load_split(data_dir, "train", min_count=cfg.vocab_min_count,
                              max_tokens=cfg.model.max_tokens, with_labels=True)
    dev, _ = load_split(data_dir, "dev", vocab, max_tokens=cfg.model.max_tokens)
    model = build_model(cfg, len(vocab), train).to(device)
    return cfg, train, dev, model


def budget_draw(costs: np.ndarray, budget: int, rng: np.random.Generator) -> list[int]:
    """Items drawn at random until the token budget is full (as the sampler fills a batch)."""
    per = max(1, int(budget // costs.mean()))
    return rng.choice(len(costs), min(per, len(costs)), replace=False).tolist()


def phase1_step(cfg, train, model, device, rng):
    from ssamt.train.phase1 import IntraObjective, intra_batch, intra_item_costs

    caps = budget_draw(intra_item_costs(train), cfg.phase1.token_budget, rng)
    objective = IntraObjective(model, cfg.loss.alpha0).train()
    batch = intra_batch(train, caps, device, hardest=True)
    params = [p for p in model.intra_parameters() if p.requires_grad]
    return objective, batch, {"L0": cfg.loss.lambda0}, params, cfg.phase1.accum_steps


def phase2_step(cfg, train, model, device, rng):
    from ssamt.train.recipes import build_recipe

    model.freeze_intra()
    recipe = build_recipe(model, train, cfg, device)
    recipe.start_epoch(0)
    anchors = budget_draw(recipe.costs, cfg.phase2.token_budget, rng)
    batch = recipe.batch(anchors, 0, cfg.phase2.max_steps - 1)  # the last update's partners
    weights = {"L1": cfg.loss.lambda1, "L2": cfg.loss.lambda2, "L3": cfg.loss.lambda3}
    params = [p for p in model.inter_parameters() if p.requires_grad]
    return recipe.criterion.train(), batch, weights, params, cfg.phase2.accum_steps


def stage2_batch(cfg, dev, device, rng):
    """eval.batch_size pairs: dev captions, each with eval.rerank_k candidate images, as
    retrieval.pair_scores batches them (distinct images and captions plus their rows)."""
    k = cfg.eval.rerank_k
    caps = rng.choice(dev.num_captions, max(1, cfg.eval.batch_size // k), replace=False)
    pairs = np.stack([rng.choice(dev.num_images, (len(caps), k)).ravel(),
                      np.repeat(caps, k)], 1)
    img_ids, img_rows = np.unique(pairs[:, 0], return_inverse=True)
    txt_ids, txt_rows = np.unique(pairs[:, 1], return_inverse=True)
    rows = tuple(torch.from_numpy(r.reshape(-1)).to(device) for r in (img_rows, txt_rows))
    return (dev.images.batch(img_ids).to(device), dev.texts.batch(txt_ids).to(device), rows,
            len(pairs))


def stage2_scores(inter, img, txt, rows) -> Callable[[], torch.Tensor]:
    from ssamt.model.scores import s_global, s_phrase, s_region

    def score() -> torch.Tensor:
        with torch.inference_mode():
            out = inter(img, txt, rows=rows)
            return torch.stack([s_global(out.h_img, out.h_txt), s_phrase(out), s_region(out)])
    return score


def preset_rows(name: str, args: argparse.Namespace, device: torch.device) -> list[str]:
    torch.manual_seed(args.seed)
    cfg, train, dev, model = load_preset(name, args.data, args.set, device)
    rows = []
    for part, build in (("phase 1", phase1_step), ("phase 2", phase2_step)):
        objective, batch, weights, params, accum = build(cfg, train, model, device,
                                                         np.random.default_rng(args.seed))
        _, eager, want = timed(training_step(objective, batch, weights, params), args.reps,
                               device)
        compiled = torch.compile(objective)
        first, fast, got = timed(training_step(compiled, batch, weights, params), args.reps,
                                 device)
        rows.append(row(name, part, "s/update", accum * eager, accum * fast, first - fast,
                        (got - want).abs().max().item(), eager - fast))
        torch._dynamo.reset()
    model.eval()
    img, txt, pair_rows, n_pairs = stage2_batch(cfg, dev, device, np.random.default_rng(args.seed))
    _, eager, want = timed(stage2_scores(model.inter, img, txt, pair_rows), args.reps, device)
    first, fast, got = timed(stage2_scores(torch.compile(model.inter), img, txt, pair_rows),
                             args.reps, device)
    rows.append(row(name, "stage 2", "pairs/s", n_pairs / eager, n_pairs / fast, first - fast,
                    (got - want).abs().max().item(), eager - fast))
    torch._dynamo.reset()
    return rows


def row(preset: str, part: str, unit: str, eager: float, compiled: float, compile_s: float,
        diff: float, saved: float) -> str:
    """One table row; payback: calls (micro-batches, stage-2 batches) of one shape that the
    compilation needs to pay for itself, `saved` s each (never, when it saves nothing)."""
    payback = f"{compile_s / saved:,.0f}" if saved > 0 else "never"
    return (f"| {preset} | {part} | {unit} | {eager:.3f} | {compiled:.3f} | "
            f"{compile_s:.1f} | {diff:.1e} | {payback} |")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    print(f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, {device}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"median of {args.reps} calls after the first\n")
    print("| preset | part | unit | eager | compiled | compilation s | largest output "
          "difference | calls of one shape to pay back |\n|---|---|---|---:|---:|---:|---:|---:|",
          flush=True)
    for name in args.presets:
        for line in preset_rows(name, args, device):
            print(line, flush=True)


if __name__ == "__main__":
    main()
