"""Does the inter encoder learn cross-modal matching? L1 with one negative vs in-batch negatives.

Starts from a phase-1 checkpoint (intra encoders and embeddings frozen, as in phase 2) and
trains only the inter encoder on the global score s_G = cos(h^I, h^T) (paper 2.4, L1) with
fresh random batches, two ways:
  single:   each positive pair against one random negative caption and one random negative
            image (the shape of our phase 2, with random instead of top-m negatives);
  in-batch: B images and one caption each, s_G of all B x B pairs, the hinge averaged over
            the B - 1 negatives of each row and column (as L0's warm-up does for s_A).
Prints L1 and the in-batch i2t R@1 of a fresh batch every --every updates (chance = 1/B).

    python benchmarks/probe_inter_learning.py --checkpoint RUN/phase1.pt --data data/synth-small
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ssamt.losses import tril
from ssamt.model.scores import s_global


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="phase-1 checkpoint (or run folder)")
    p.add_argument("--data", required=True, help="precomp folder with train split and labels")
    p.add_argument("--modes", nargs="+", default=["single", "in-batch"],
                   choices=["single", "in-batch"])
    p.add_argument("--batch", type=int, default=16, help="images per update (B)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--alpha", type=float, default=0.1, help="margin alpha1")
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--threads", type=int, default=0)
    return p.parse_args()


def load(checkpoint: str, data: str):
    from ssamt.train.config import load_config
    from ssamt.train.data import load_train_dev
    from ssamt.train.trained_run import load_run

    run = load_run(checkpoint, "cpu")
    cfg = load_config("synthetic", [f"model.max_tokens={run.max_tokens}"])
    train, _, _ = load_train_dev(data, cfg, run.vocab.to_dict(), False)
    return run.model, train


def draw(train, rng: np.random.Generator, b: int) -> tuple[np.ndarray, np.ndarray]:
    """B distinct images and one of each image's captions."""
    imgs = rng.choice(train.num_images, b, replace=False)
    caps = np.array([rng.choice(np.flatnonzero(train.caption_image == i)) for i in imgs])
    return imgs, caps


def all_pairs_scores(model, train, imgs: np.ndarray, caps: np.ndarray) -> torch.Tensor:
    """(B, B) s_G[i, j] = cos(h^I, h^T) of the inter run on (image i, caption j)."""
    b = len(imgs)
    ii, jj = np.meshgrid(np.arange(b), np.arange(b), indexing="ij")
    out = model.inter(train.images.batch(imgs[ii.ravel()]), train.texts.batch(caps[jj.ravel()]))
    return s_global(out.h_img, out.h_txt).view(b, b)


def in_batch_loss(scores: torch.Tensor, alpha: float) -> torch.Tensor:
    pos, off = scores.diag(), ~torch.eye(len(scores), dtype=torch.bool)
    i2t = ((alpha - pos[:, None] + scores).clamp_min(0) * off).sum(1)
    t2i = ((alpha - pos[None, :] + scores).clamp_min(0) * off).sum(0)
    return ((i2t + t2i) / (len(scores) - 1)).mean()


def single_loss(model, train, imgs, caps, rng, alpha: float) -> torch.Tensor:
    neg_caps = rng.choice(train.num_captions, len(imgs))
    neg_imgs = rng.choice(train.num_images, len(imgs))

    def s(i, c):
        out = model.inter(train.images.batch(i), train.texts.batch(c))
        return s_global(out.h_img, out.h_txt)

    pos = s(imgs, caps)
    return (tril(pos, s(imgs, neg_caps), alpha) + tril(pos, s(neg_imgs, caps), alpha)).mean()


def run(mode: str, args: argparse.Namespace) -> None:
    model, train = load(args.checkpoint, args.data)
    model.freeze_intra()
    model.train()
    params = [p for p in model.inter_parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr)
    rng, eval_rng = np.random.default_rng(0), np.random.default_rng(1)
    t0 = time.perf_counter()
    for step in range(args.steps + 1):
        imgs, caps = draw(train, rng, args.batch)
        if mode == "in-batch":
            loss = in_batch_loss(all_pairs_scores(model, train, imgs, caps), args.alpha)
        else:
            loss = single_loss(model, train, imgs, caps, rng, args.alpha)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.every == 0:
            with torch.no_grad():
                scores = all_pairs_scores(model, train, *draw(train, eval_rng, args.batch))
            r1 = (scores.argmax(1) == torch.arange(args.batch)).float().mean().item()
            print(f"{mode:8s} update {step:4d}  L1 {loss.item():.4f}  in-batch i2t R@1 "
                  f"{100 * r1:5.1f}%  ({time.perf_counter() - t0:.0f} s)", flush=True)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"B = {args.batch} (chance R@1 {100 / args.batch:.1f}%), lr {args.lr}, "
          f"alpha {args.alpha}, {args.steps} updates, {torch.get_num_threads()} threads")
    for mode in args.modes:
        run(mode, args)


if __name__ == "__main__":
    main()
