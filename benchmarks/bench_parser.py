"""Parser quality on FACTUAL dev and speed over 50,000 captions.

    python benchmarks/bench_parser.py [--factual /work/shared/data/factual] [--n 50000]
        [--workers 1 2]

Quality: tuple F1 (objects, attribute pairs, relation triples; per caption, averaged) and
set match (whole tuple set exactly right) against the FACTUAL gold graphs, scored by
ssamt.labels.factual. Speed: captions/s of ssamt.labels.parse over N captions made from
FACTUAL train, (a) cycled as is (repeats are parsed once) and (b) every repeat made distinct
by a suffix ("... in view 2"), so that all N are parsed. The spaCy model is loaded first and
not timed.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from ssamt.labels.factual import read_factual, score
from ssamt.labels.nlp import get_analyzer
from ssamt.labels.parser import parse, parser_version


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--factual", default="/work/shared/data/factual")
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--split", default="dev", help="FACTUAL split scored (default dev)")
    args = ap.parse_args()
    root = Path(args.factual)
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"parser: {parser_version()}")
    get_analyzer()  # load spaCy outside the timings

    gold = read_factual(root / f"{args.split}.csv")
    result = score(parse([g.caption for g in gold]), gold)
    print(f"FACTUAL {args.split} ({result.n} captions): F1 {result.f1:.1f}  P {result.precision:.1f}"
          f"  R {result.recall:.1f}  set match {result.set_match:.1f}%")

    train = [g.caption for g in read_factual(root / "train.csv")]
    cycled = [train[i % len(train)] for i in range(args.n)]
    varied = [c if i < len(train) else f"{c} in view {i // len(train) + 1}"
              for i, c in enumerate(cycled)]
    for name, captions in (("cycled", cycled), ("varied", varied)):
        unique = len({" ".join(c.split()) for c in captions}) / len(captions)
        for workers in args.workers:
            start = time.perf_counter()
            parse(captions, workers=workers)
            seconds = time.perf_counter() - start
            print(f"speed {name}: {len(captions):,} captions ({unique:.1%} unique), "
                  f"workers={workers}: {seconds:.1f}s, {len(captions) / seconds:,.0f} captions/s")


if __name__ == "__main__":
    main()
