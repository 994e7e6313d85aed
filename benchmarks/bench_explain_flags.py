"""How often `ssamt explain`'s per-part verdict flags parts of true captions, and how often
it flags the edit of a minimal pair, with the margin alpha3 / 2 against the margins the
part levels measure (ssamt.pipelines.part_levels, FALSE_FLAGS of the sample's matched
parts below their reference).

    python benchmarks/bench_explain_flags.py --checkpoint RUN [--checkpoint RUN2 ...] \
        --data DIR --split dev

For each run and margin rule, on the split's minimal-pair images:
- true parts flagged: % of the judged parts of the images' own captions flagged, each
  caption judged against the image's other captions (leave one out), as explain does;
- true captions flagged: % of those captions with at least one flagged part;
- edit flagged: % of the edited captions (or edited images) with a flagged part touching
  the edit; off the edit: flagged parts per edited pair that do not touch it.
"""

from __future__ import annotations

import argparse

import numpy as np

from ssamt.data.tables import TextTable
from ssamt.pipelines.analysis.minimal_pairs import part_tokens, span_tokens
from ssamt.pipelines.analysis.minimal_run import load_inputs, negative_rows
from ssamt.pipelines.explain import level_margins, reference_levels, with_references
from ssamt.pipelines.part_levels import part_levels_for
from ssamt.pipelines.parts import score_parts
from ssamt.train.trained_run import load_run


def flagged(parts, refs, levels, margins):
    """The parts explain flags, given the type references and the margin of each level."""
    return [p for p in with_references(parts, refs, levels)
            if p.ref is not None and p.score < p.ref - margins[p.level]]


def measure(run, inputs, levels, margins) -> dict[str, float]:
    k = inputs.captions_per_image
    texts = TextTable(inputs.graphs, run.vocab, max_tokens=run.max_tokens)
    mu1, mu2 = run.eq5_weights()
    kw = {"vocab": run.vocab, "max_tokens": run.max_tokens}
    imgs = sorted({r["image"] for r in inputs.records})
    own_img = np.repeat(imgs, k)
    own_cap = own_img * k + np.tile(np.arange(k), len(imgs))
    own = score_parts(run.model, inputs.images, texts, inputs.graphs, own_img, own_cap, mu1,
                      mu2, **kw)
    rows = np.array([negative_rows(inputs, n) for n in range(len(inputs.records))])
    neg = score_parts(run.model, inputs.images, texts, inputs.graphs, rows[:, 0], rows[:, 1],
                      mu1, mu2, **kw)
    at = {int(c): n for n, c in enumerate(own_cap)}
    true_parts = true_flags = true_caps = 0
    for n, c in enumerate(own_cap):
        lines = range(int(own_img[n]) * k, int(own_img[n]) * k + k)
        refs = reference_levels([p for d in lines if d != c for p in own.parts[at[d]]])
        true_parts += sum(p.judged and p.level in refs for p in own.parts[n])
        f = flagged(own.parts[n], refs, levels, margins)
        true_flags += len(f)
        true_caps += bool(f)
    hits = off = 0
    for n, r in enumerate(inputs.records):
        graph = inputs.graphs[rows[n, 1]]
        lines = range(r["image"] * k, r["image"] * k + k)
        refs = reference_levels([p for d in lines if inputs.graphs[d].text != graph.text
                                 for p in own.parts[at[d]]])
        span = span_tokens(graph, r["char_spans"])
        touch = [bool(part_tokens(graph, p) & span)
                 for p in flagged(neg.parts[n], refs, levels, margins)]
        hits += any(touch)
        off += touch.count(False)
    return {"true parts flagged": 100 * true_flags / true_parts,
            "true captions flagged": 100 * true_caps / len(own_cap),
            "edit flagged": 100 * hits / len(inputs.records),
            "off the edit per pair": off / len(inputs.records)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", action="append", required=True, metavar="RUN")
    ap.add_argument("--data", required=True, metavar="DIR")
    ap.add_argument("--split", default="dev", choices=("dev", "test", "testall"))
    args = ap.parse_args()
    inputs = load_inputs(args.data, args.split)
    print(f"{args.split}: {len(inputs.records)} minimal pairs")
    print("| run | margins | true parts flagged | true captions flagged | edit flagged | "
          "flags off the edit per pair |\n|---|---|---:|---:|---:|---:|")
    for path in args.checkpoint:
        run = load_run(path)
        levels = part_levels_for(run, args.data)
        for name, given in (("alpha3 / 2", run.config.loss.alpha3 / 2), ("measured", None)):
            margins, words = level_margins(run, given, levels)
            m = measure(run, inputs, levels, margins)
            print(f"| {path} | {name}: {words} | {m['true parts flagged']:.1f} | "
                  f"{m['true captions flagged']:.1f} | {m['edit flagged']:.1f} | "
                  f"{m['off the edit per pair']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
