"""Speed of one phase-2 training step of the paper-size inter encoder (paper 3.2).

One step = forward + backward of the inter encoder over a batch of ~8,192 instances
(#regions + #text positions; default 128 pairs x (36 regions + 8 phrases + 20 words)), with
the intra part frozen as in phase 2. Attention is timed two ways in the same run:
  sdpa:  boolean mask through torch.nn.functional.scaled_dot_product_attention;
  naive: softmax(QK^T / sqrt(d_k) + M) V written out (paper 2.3).
Both are first checked to give the same outputs (eval mode).

  python benchmarks/bench_model_speed.py                       # CPU, float32
  python benchmarks/bench_model_speed.py --device cuda --dtype bf16 --peak-tflops 989
"""

from __future__ import annotations

import argparse
import platform
import time

import _tests_path  # noqa: F401  (puts tests/ on sys.path)
import torch
from random_batches import random_image_batch, random_text_batch

from ssamt.model import SSAMT
from ssamt.model.scores import s_global, s_phrase, s_region
from ssamt.train.config import load_config

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="paper-coco")
    p.add_argument("--vocab-size", type=int, default=9568)
    p.add_argument("--pairs", type=int, default=128)
    p.add_argument("--regions", type=int, default=36)
    p.add_argument("--phrases", type=int, default=8)
    p.add_argument("--words", type=int, default=20)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    p.add_argument("--reps", type=int, default=3, help="timed steps per implementation")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="device peak TFLOP/s for --dtype (e.g. 989 for H100 SXM bf16 dense)")
    return p.parse_args()


def step_flops(cfg, pairs: int, n_txt: int, n_reg: int) -> float:
    """Matmul FLOPs of one forward+backward step (backward = 2x forward for the encoder;
    the frozen region projection runs forward only)."""
    d, s = cfg.d_model, n_txt + n_reg + 2
    per_token = 2 * (4 * d * d + 2 * d * cfg.d_ffn) + 2 * 2 * s * d  # linears + QK^T, AV
    encoder = cfg.n_layers * pairs * s * per_token
    regions = 2 * cfg.d_region * d * pairs * n_reg
    return 3 * encoder + regions


def train_step(model: SSAMT, img, txt, dtype: torch.dtype, device: str) -> None:
    with torch.autocast(device_type=device.split(":")[0], dtype=dtype,
                        enabled=dtype != torch.float32):
        out = model.inter(img, txt)
        loss = -(s_global(out.h_img, out.h_txt) + s_phrase(out) + s_region(out)).mean()
    loss.backward()


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_step(model: SSAMT, impl: str, img, txt, args, dtype) -> float:
    """Seconds of one training step with attention `impl`."""
    model.set_attention(impl)
    model.train()
    model.zero_grad(set_to_none=True)
    sync(args.device)
    t0 = time.perf_counter()
    train_step(model, img, txt, dtype, args.device)
    sync(args.device)
    return time.perf_counter() - t0


def time_both(model: SSAMT, img, txt, args, dtype) -> dict[str, list[float]]:
    """Step times per implementation; the two alternate so that load changes on a shared
    machine hit both alike. The first round is an untimed warm-up."""
    times: dict[str, list[float]] = {"sdpa": [], "naive": []}
    for rep in range(args.reps + 1):
        for impl, spent in times.items():
            sec = time_step(model, impl, img, txt, args, dtype)
            if rep:
                spent.append(sec)
    return times


@torch.no_grad()
def max_output_diff(model: SSAMT, img, txt) -> float:
    """Largest |sdpa - naive| over the inter outputs, eval mode (no dropout)."""
    model.eval()
    outs = []
    for impl in ("sdpa", "naive"):
        model.set_attention(impl)
        o = model.inter(img, txt)
        outs.append(torch.cat([o.h_img, o.h_txt, o.H_img.flatten(1), o.H_txt.flatten(1)], 1))
    return float((outs[0].float() - outs[1].float()).abs().max())


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    cfg = load_config(args.preset).model.with_data(vocab_size=args.vocab_size, d_region=2048,
                                                   d_box=0)  # BUTD regions, no boxes
    model = SSAMT(cfg).to(args.device)
    model.freeze_intra()  # phase 2
    g = torch.Generator().manual_seed(0)
    img = random_image_batch(args.pairs, args.regions, cfg.d_region, generator=g, full=True)
    txt = random_text_batch(args.pairs, args.words, args.phrases, cfg.vocab_size, g, full=True)
    img, txt = img.to(args.device), txt.to(args.device)
    n_txt = args.phrases + args.words
    instances = args.pairs * (args.regions + n_txt)
    dtype = DTYPES[args.dtype]
    diff = max_output_diff(model, img, txt)
    flops = step_flops(cfg, args.pairs, n_txt, args.regions)
    device_name = (torch.cuda.get_device_name() if args.device.startswith("cuda")
                   else f"{platform.processor() or platform.machine()}, "
                        f"{torch.get_num_threads()} threads")
    print(f"# {args.preset} inter encoder, {args.pairs} pairs x ({args.regions} regions + "
          f"{args.phrases} phrases + {args.words} words) = {instances:,} instances; "
          f"{args.device} ({device_name}), {args.dtype}, torch {torch.__version__}")
    print(f"max |sdpa - naive| output difference (eval): {diff:.2e}")
    print(f"model FLOPs per step: {flops / 1e9:.0f} GFLOP")
    print("| attention | s / step (mean) | s / step (min) | instances / s (mean) "
          "| TFLOP/s (mean) | fraction of peak |")
    print("|---|---|---|---|---|---|")
    for impl, times in time_both(model, img, txt, args, dtype).items():
        sec = sum(times) / len(times)
        tflops = flops / sec / 1e12
        frac = f"{tflops / args.peak_tflops:.1%}" if args.peak_tflops else "n/a"
        print(f"| {impl} | {sec:.3f} | {min(times):.3f} | {instances / sec:,.0f} "
              f"| {tflops:.3f} | {frac} |")

if __name__ == "__main__":
    main()
