"""`ssamt synth`: write a synthetic scene dataset in the precomp format."""

from __future__ import annotations

import argparse

HELP = "generate a synthetic image-caption dataset (precomp format) for trying ssamt on a CPU"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (created; an "
                        "existing folder is replaced only if empty or written by ssamt synth)")
    parser.add_argument("--size", choices=("tiny", "small", "medium"), default="small",
                        help="tiny: 200 train images (tests); small: 3,000 (quick start, "
                             "default); medium: 30,000 (about 1.4 GB)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--generator", type=int, choices=(1, 2), default=1,
                        help="1: one object per type (default, unchanged); 2: up to two objects "
                             "of a type and more captions binding attributes to both related "
                             "objects (minimal pairs then occur in training too)")
    parser.add_argument("--add-minimal", action="store_true",
                        help="only add the minimal-pair files (dev/test/testall "
                             "*_minimal.jsonl, *_minimal_ims.npy, *_capspecs.jsonl) to the "
                             "existing synthetic folder OUT_DIR")
    parser.add_argument("--export-benchmarks", metavar="DIR", default=None,
                        help="only write the minimal pairs of the existing synthetic folder "
                             "OUT_DIR in SugarCrepe's and Winoground's formats into DIR (for "
                             "`ssamt analyze compositional`)")
    parser.add_argument("--export-split", choices=("dev", "test", "testall"), default="test",
                        help="split --export-benchmarks writes (default test)")


def run(args: argparse.Namespace) -> int:
    from ssamt.commands.common import check_ranges
    from ssamt.data.synth.generator import generate
    from ssamt.data.synth.sizes import SIZES

    check_ranges(args, {"seed": 0})
    if args.export_benchmarks is not None:
        from ssamt.data.synth.benchmarks import export_benchmarks

        counts = export_benchmarks(args.out_dir, args.export_benchmarks, args.export_split)
        shown = ", ".join(f"{name} {n}" for name, n in counts.items())
        print(f"wrote {args.export_benchmarks}: SugarCrepe files and Winoground examples of "
              f"split '{args.export_split}' ({shown})")
        return 0
    if args.add_minimal:
        from ssamt.data.synth.generator import add_minimal_pairs

        print(f"added minimal pairs to {add_minimal_pairs(args.out_dir)}")
        return 0
    out = generate(args.out_dir, size=args.size, seed=args.seed, progress=not args.quiet,
                   generator=args.generator)
    cfg = SIZES[args.size]
    print(f"wrote {out}: train {cfg.train:,}, dev {cfg.dev:,}, test {cfg.test:,}, "
          f"testall {cfg.testall:,} images, 5 captions each, {cfg.regions} regions x "
          f"{cfg.dim} features ({cfg.dtype}) with boxes; minimal pairs for dev, test, testall")
    return 0
