"""Operators dispatched by one phase-2 micro-step and one stage-2 batch.

    python benchmarks/count_ops.py --data DIR [--preset paper-f30k] [--split train]

On a GPU these steps are bound by the host launching kernels, one (or more) per operator,
so their count is the figure to cut; it does not depend on the device or on the model's
width, so it is counted here on the CPU with a narrow model of the preset's structure
(d_model 128). The micro-step holds as many anchors as the preset's phase-2 token budget
takes at the split's mean pair cost; its inputs are built as phase 2 builds them (random
partners, the label rule's marks). Prints the forward count, forward + backward, and a
stage-2 batch (the same pairs, eval mode), with the most frequent operators.
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode


class CountOps(TorchDispatchMode):
    """Counts every operator dispatched inside it by name."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="precomp folder with the split and its labels")
    p.add_argument("--preset", default="paper-f30k")
    p.add_argument("--split", default="train")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from ssamt.losses import combine
    from ssamt.train.config import load_config
    from ssamt.train.data import load_split
    from ssamt.train.phase2 import EpochPartners, InterObjective, InterOptions, inter_inputs
    from ssamt.train.trainer import build_model

    args = parse_args(argv)
    cfg = load_config(args.preset, ["model.d_model=128", "model.d_ffn=256", "model.n_heads=4"])
    data, vocab = load_split(args.data, args.split, min_count=cfg.vocab_min_count,
                             max_tokens=cfg.model.max_tokens, with_labels=True)
    torch.manual_seed(args.seed)
    model = build_model(cfg, len(vocab), data)
    rng = np.random.default_rng(args.seed)
    n_cap, d = len(data.caption_image), cfg.model.d_model
    unit = lambda n: torch.nn.functional.normalize(torch.randn(n, d), dim=-1)
    partners = EpochPartners(rng.permutation(n_cap), rng.permutation(n_cap),
                             unit(len(data.images)), unit(n_cap))
    options = InterOptions.from_config(cfg)
    per = max(1, int(cfg.phase2.token_budget // (2 * data.pair_costs()).mean()))
    anchors = rng.choice(n_cap, min(per, n_cap), replace=False).tolist()
    inputs = inter_inputs(data, anchors, partners, True, torch.device("cpu"), options,
                          with_marks=cfg.loss.lambda3 > 0)
    objective = InterObjective(model.train(), options)
    weights = {"L1": cfg.loss.lambda1, "L2": cfg.loss.lambda2, "L3": cfg.loss.lambda3,
               "LR": cfg.loss.lambda_role}
    with CountOps() as step:
        terms = objective(**inputs)
        forward = step.total
        combine(terms, weights).backward()
    with CountOps() as stage2, torch.inference_mode():
        model.eval().eq5_terms(inputs["a_img"], inputs["a_txt"],
                               model.inter(inputs["images"], inputs["texts"]))
    print(f"{args.preset} structure (d_model 128), {len(anchors)} anchors "
          f"({2 * len(anchors)} positives) a micro-step")
    print(f"phase-2 micro-step: forward {forward:,} ops, with backward {step.total:,}")
    print(f"stage-2 batch of {2 * len(anchors)} pairs: {stage2.total:,} ops")
    print("most frequent in the micro-step:",
          ", ".join(f"{name} {n}" for name, n in step.counts.most_common(12)))


if __name__ == "__main__":
    main()
