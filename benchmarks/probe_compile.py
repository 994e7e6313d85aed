"""Would `torch.compile` speed up a phase-2 micro-step? Eager against compiled, same batches.

    python benchmarks/probe_compile.py --data runs/quickstart/data [--preset synthetic] \
        [--batches 4] [--reps 5] [--dynamic]

Builds the preset's model and phase-2 recipe on the data's training split (as
count_ops.py does), draws `--batches` micro-batches of the preset's token budget (their
shapes differ, as in training), and times forward + backward of the criterion on each:
eager, then `torch.compile` of the same criterion (the first call on each batch shape
pays the compilation, reported apart). Prints seconds per micro-step, the compile time
and whether the compiled losses equal the eager ones within float tolerance. CPU or GPU
(`--device`); nothing is trained.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="precomp folder with the split and its labels")
    p.add_argument("--preset", default="synthetic")
    p.add_argument("--split", default="train")
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dynamic", action="store_true", help="torch.compile(dynamic=True)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def step_seconds(criterion, batch, weights: dict[str, float], reps: int,
                 device: torch.device) -> tuple[float, float, dict[str, float]]:
    """(first call s, median of the next `reps` s, loss terms) of forward + backward."""
    times, terms = [], {}
    for _ in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        terms = criterion(batch)
        sum(w * terms[n] for n, w in weights.items() if n in terms).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times[0], statistics.median(times[1:]), {n: float(v.detach()) for n, v in terms.items()}


def main(argv: list[str] | None = None) -> None:
    from ssamt.train.config import load_config
    from ssamt.train.data import load_split
    from ssamt.train.recipes import build_recipe
    from ssamt.train.trainer import build_model

    args = parse_args(argv)
    device = torch.device(args.device)
    cfg = load_config(args.preset)
    data, vocab = load_split(args.data, args.split, min_count=cfg.vocab_min_count,
                             max_tokens=cfg.model.max_tokens, with_labels=True)
    torch.manual_seed(args.seed)
    model = build_model(cfg, len(vocab), data).to(device)
    recipe = build_recipe(model, data, cfg, device)
    recipe.start_epoch(0)
    rng = np.random.default_rng(args.seed)
    per = max(1, int(cfg.phase2.token_budget // recipe.costs.mean()))
    batches = [recipe.batch(rng.choice(len(recipe.costs), min(per, len(recipe.costs)),
                                       replace=False).tolist(), 0, cfg.phase2.max_steps - 1)
               for _ in range(args.batches)]
    weights = {"L1": cfg.loss.lambda1, "L2": cfg.loss.lambda2, "L3": cfg.loss.lambda3}
    criterion = recipe.criterion.train()
    compiled = torch.compile(criterion, dynamic=args.dynamic)
    print(f"{args.preset}, {device}, {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}, {per} items a micro-step, dynamic={args.dynamic}\n")
    print("| batch | eager s | compiled s | first compiled call s | largest loss difference |")
    print("|---:|---:|---:|---:|---:|")
    for i, batch in enumerate(batches):
        _, eager, want = step_seconds(criterion, batch, weights, args.reps, device)
        first, fast, got = step_seconds(compiled, batch, weights, args.reps, device)
        diff = max(abs(got[n] - want[n]) for n in want)
        print(f"| {i} | {eager:.4f} | {fast:.4f} | {first:.1f} | {diff:.2e} |", flush=True)


if __name__ == "__main__":
    main()
