"""`ssamt index`: encode a gallery once into a FAISS index folder for `ssamt search`/`serve`.

    ssamt index --checkpoint runs/quick --data data/synth --split test --out index/synth
    ssamt index --checkpoint RUN --data DIR --out INDEX --kind hnsw   # large galleries
"""

from __future__ import annotations

import argparse
import sys

from ssamt.commands.common import resolve_device

HELP = "encode a gallery once (intra encoders) into a FAISS index folder for search and serve"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="RUN",
                        help="checkpoint file, or a run folder (its best.pt, else last.pt)")
    parser.add_argument("--data", required=True, metavar="DIR", help="precomp data folder")
    parser.add_argument("--split", default="test", help="split to index (default test)")
    parser.add_argument("--out", required=True, metavar="INDEX_DIR",
                        help="index folder to write (replaced only if it is an index)")
    parser.add_argument("--kind", default="flat", choices=("flat", "hnsw", "ivf"),
                        help="flat: exact inner product (default); hnsw / ivf: approximate, "
                             "for large galleries (their recall@10 against exact is printed)")
    parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node (32)")
    parser.add_argument("--ivf-lists", type=int, default=None,
                        help="IVF cells (default about 4 sqrt(N))")
    parser.add_argument("--nprobe", type=int, default=16, help="IVF cells searched (16)")
    parser.add_argument("--batch-size", type=int, default=128,
                        help="images (captions x4) per forward pass (default 128)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ssamt.errors import ConfigError
    from ssamt.search.build import build_index

    for name in ("batch_size", "hnsw_m", "nprobe"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
    if args.ivf_lists is not None and args.ivf_lists < 1:
        raise ConfigError("--ivf-lists must be >= 1")
    manifest = build_index(args.checkpoint, args.data, args.out, split=args.split,
                           kind=args.kind, hnsw_m=args.hnsw_m, ivf_nlist=args.ivf_lists,
                           nprobe=args.nprobe, batch_size=args.batch_size,
                           device=resolve_device(args.device),
                           progress=not args.quiet and sys.stderr.isatty())
    print(f"indexed {manifest['num_images']} images and {manifest['num_captions']} captions "
          f"of {args.data} ({args.split}), {manifest['kind']} index, "
          f"{manifest['seconds']:.1f}s")
    for name, value in manifest["recall"].items():
        print(f"{name} against exact search: {value:.3f}")
    print(f"wrote {args.out}")
    return 0
