"""Parser quality on FACTUAL dev and speed over 50,000 captions.

    python benchmarks/bench_parser.py [--factual /work/shared/data/factual] [--n 50000]
        [--workers 1 2]

Quality: tuple F1 (objects, attribute pairs, relation triples; per caption, averaged) and
set match (whole tuple set exactly right) against the FACTUAL gold graphs, scored by
ssamt.labels.factual. Speed: captions/s of ssamt.labels.parse over N captions made from
FACTUAL train, (a) cycled as is (repeats are parsed once) and (b) every repeat made distinct
by a suffix ("... in view 2"), so that all N are parsed. The spaCy model is loaded first and
not timed. Both wall-clock and CPU time are printed: on a shared machine the wall clock
measures the neighbours as much as the parser.
"""

from __future__ import annotations

import argparse
import platform
import resource
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
            seconds, cpu = _timed(parse, captions, workers=workers)
            print(f"speed {name}: {len(captions):,} captions ({unique:.1%} unique), "
                  f"workers={workers}: {seconds:.1f}s wall, {len(captions) / seconds:,.0f} "
                  f"captions/s; {cpu:.1f} CPU-s, {len(captions) / cpu:,.0f} captions per CPU-s")


def _timed(fn, *args, **kwargs) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process + reaped workers) of one call.

    The machine is shared, so wall time depends on the other jobs; CPU time says what
    the parser itself costs.
    """
    def cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    wall0, cpu0 = time.perf_counter(), cpu()
    fn(*args, **kwargs)
    return time.perf_counter() - wall0, cpu() - cpu0


if __name__ == "__main__":
    main()
