"""`ssamt analyze compositional`: a trained run on the field's compositional benchmarks
(SugarCrepe, ARO's VG-Relation / VG-Attribution, Winoground) read from their own files,
the images found by id in a precomp split of region features.

Per subset, in the benchmarks' own terms:
- pairs (SugarCrepe, ARO): accuracy (% of pairs whose true caption scores above the false
  one, ties one half) of the dual encoder (s_A), s_G, s_P + s_R and Eq. 5 with the run's
  weights; the blind baseline on the same pairs (ssamt.pipelines.analysis.blind: text
  only, fitted on the run's training captions); and localization: the share of false
  captions whose named part (the explain verdict) touches the words that differ from the
  true caption, beside the rate of a part picked at random.
- groups (Winoground): the text score (for each image its own caption scores higher), the
  image score (for each caption its own image scores higher) and the group score (both), of
  each score; a text-only model scores a caption alike for both images, so its text score
  is 0 by construction and its image score is undefined.

ARO crops each image to a box; region features hold the whole image, so the box is not
used. Pairs whose image is not in the split are counted and named in one line, never
dropped silently; pairs whose image is also in the run's training split are counted in a
warning.
"""

from __future__ import annotations

import difflib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssamt.data.compositional import Benchmark, Group, Pair, find_images, read_benchmark
from ssamt.data.fingerprint import fingerprint_matches
from ssamt.data.precomp import PrecompSplit, available_splits, open_split
from ssamt.data.tables import ImageTable, TextTable
from ssamt.errors import DataError
from ssamt.fileio import write_json, write_text
from ssamt.labels.graph import CaptionGraph
from ssamt.labels.store import build_or_load_labels
from ssamt.pipelines.analysis import report as rep
from ssamt.pipelines.analysis.blind import CaptionLM
from ssamt.pipelines.analysis.minimal_pairs import part_tokens, verdict_candidates
from ssamt.pipelines.analysis.pm_accuracy import pairwise_accuracy
from ssamt.pipelines.explain import flagged_part, with_references
from ssamt.pipelines.part_levels import part_levels_for
from ssamt.pipelines.parts import SCORES, score_parts
from ssamt.train.compat import check_data_fits
from ssamt.train.run_folder import DATA_NAME
from ssamt.train.trained_run import Run

NAMES = {"intra": "dual (s_A)", "inter_global": "s_G", "local": "s_P+s_R", "eq5": "Eq. 5"}
LABELS_CACHE = "benchmark_labels.jsonl"


@dataclass
class Located:
    """A benchmark's entries that the split holds: their rows, and what was left out."""

    benchmark: Benchmark
    entries: list[Pair | Group]
    rows: list[tuple[int, ...]]  # the split row of each entry's image(s)
    missing: list[str]  # image names not in the split


def locate(benchmark: Benchmark, split: PrecompSplit) -> Located:
    """The entries whose images are all in the split (find_images)."""
    names = [(e.image,) if isinstance(e, Pair) else e.images for e in benchmark.entries]
    flat = find_images([n for group in names for n in group], split.ids)
    entries, rows, missing, at = [], [], [], 0
    for entry, group in zip(benchmark.entries, names):
        found = flat[at:at + len(group)]
        at += len(group)
        if all(r is not None for r in found):
            entries.append(entry)
            rows.append(tuple(found))
        else:
            missing += [n for n, r in zip(group, found) if r is None]
    return Located(benchmark, entries, rows, missing)


def report_missing(located: Located, split_name: str) -> None:
    """One line per file naming what the split lacks (never a silent drop)."""
    if located.missing:
        names = ", ".join(located.missing[:3]) + (", ..." if len(located.missing) > 3 else "")
        left = len(located.benchmark.entries) - len(located.entries)
        print(f"ssamt: note: {located.benchmark.path}: {left} of "
              f"{len(located.benchmark.entries)} entries name images not in split "
              f"'{split_name}' ({names}); left out", file=sys.stderr)


def training_split(run: Run) -> PrecompSplit | None:
    """The run's own training split, when its data folder (RUN/data.json) still holds it."""
    try:
        recorded = json.loads((run.path.parent / DATA_NAME).read_text(encoding="utf-8"))
        split = open_split(recorded["data"], "train")
    except (OSError, ValueError, KeyError, TypeError, DataError):
        return None
    stored = run.data_fingerprint
    return split if stored is None or fingerprint_matches(stored, split) else None


def warn_training_overlap(located: list[Located], split: PrecompSplit,
                          train: PrecompSplit | None) -> None:
    """A warning counting entries whose image is also one of the run's training images."""
    if train is None or train.ids is None or split.ids is None:
        return
    seen = set(train.ids)
    for loc in located:
        shared = sum(any(split.ids[r] in seen for r in rows) for rows in loc.rows)
        if shared:
            print(f"ssamt: warning: {loc.benchmark.path}: {shared} of {len(loc.rows)} entries "
                  "show images of the run's training split: those are not held out",
                  file=sys.stderr)


def caption_graphs(texts: list[str], out: Path, progress: bool) -> dict[str, CaptionGraph]:
    """Parses of the benchmark captions, cached in the report folder."""
    unique = list(dict.fromkeys(texts))
    store = build_or_load_labels(unique, 1, out / LABELS_CACHE, progress=progress)
    return dict(zip(unique, store.graphs))


def differing_tokens(true: CaptionGraph, false: CaptionGraph) -> set[int]:
    """Tokens of the false caption that are not where the true caption has them (an edit,
    an insertion, or a word moved by a swap), compared lower-cased."""
    matcher = difflib.SequenceMatcher(None, [t.lower() for t in true.tokens],
                                      [t.lower() for t in false.tokens], autojunk=False)
    return {j for tag, _, _, j1, j2 in matcher.get_opcodes() if tag != "equal"
            for j in range(j1, j2)}


def _localized(graph: CaptionGraph, parts: list, edited: set[int]) -> tuple[bool, float]:
    """(the named part touches the edited tokens, the rate of a random candidate part)."""
    named = flagged_part(parts)
    cands = verdict_candidates(parts)
    hit = named is not None and bool(part_tokens(graph, named) & edited)
    chance = (sum(bool(part_tokens(graph, p) & edited) for p in cands) / len(cands)
              if cands else 0.0)
    return hit, chance


def measure_pairs(run: Run, images: ImageTable, located: Located,
                  graphs: dict[str, CaptionGraph], lm: CaptionLM | None, levels: Any,
                  batch_size: int, device: str) -> dict[str, Any]:
    """Accuracy of each score, the blind baseline and localization of one pair subset."""
    pairs = located.entries
    texts = [t for p in pairs for t in (p.true, p.false)]
    img = np.repeat([rows[0] for rows in located.rows], 2)
    scored = _score_texts(run, images, [graphs[t] for t in texts], img,
                          np.arange(len(texts), dtype=np.int64), batch_size, device)
    out: dict[str, Any] = {"n": len(pairs), "missing": len(located.missing)}
    for key in SCORES:
        out[key] = pairwise_accuracy(scored.scores[key][0::2], scored.scores[key][1::2])
    if lm is not None:
        out["blind"] = pairwise_accuracy(np.array([lm.score(p.true) for p in pairs]),
                                         np.array([lm.score(p.false) for p in pairs]))
    if levels is not None:
        hits, chance = [], []
        for k, p in enumerate(pairs):
            edited = differing_tokens(graphs[p.true], graphs[p.false])
            if not edited:
                continue
            parts = with_references(scored.parts[2 * k + 1], {}, levels)
            hit, rate = _localized(graphs[p.false], parts, edited)
            hits.append(hit)
            chance.append(rate)
        out["localized"] = 100.0 * float(np.mean(hits)) if hits else float("nan")
        out["localized by chance"] = 100.0 * float(np.mean(chance)) if chance else float("nan")
    return out


def _score_texts(run: Run, images: ImageTable, graph_list: list[CaptionGraph],
                 img: np.ndarray, cap: np.ndarray, batch_size: int, device: str):
    """score_parts of the pairs (images[img[b]], graph_list[cap[b]]) with the run's Eq. 5
    weights."""
    table = TextTable(graph_list, run.vocab, max_tokens=run.max_tokens)
    mu1, mu2 = run.eq5_weights()
    return score_parts(run.model, images, table, graph_list, img, cap, mu1, mu2,
                       vocab=run.vocab, max_tokens=run.max_tokens, batch_size=batch_size,
                       device=device)


def measure_groups(run: Run, images: ImageTable, located: Located,
                   graphs: dict[str, CaptionGraph], batch_size: int,
                   device: str) -> dict[str, Any]:
    """Winoground's text, image and group scores (%) of each score of one group subset."""
    groups = located.entries
    texts = [c for g in groups for c in g.captions]
    # per group the four pairs (image a, caption b): (0, 0), (0, 1), (1, 0), (1, 1)
    img = np.array([rows[a] for rows in located.rows for a in (0, 0, 1, 1)], np.int64)
    cap = np.array([2 * g + b for g in range(len(groups)) for b in (0, 1, 0, 1)], np.int64)
    scored = _score_texts(run, images, [graphs[t] for t in texts], img, cap, batch_size,
                          device)
    out: dict[str, Any] = {"n": len(groups), "missing": len(located.missing)}
    for key in SCORES:
        s = scored.scores[key].reshape(-1, 4)  # i0c0, i0c1, i1c0, i1c1
        text = (s[:, 0] > s[:, 1]) & (s[:, 3] > s[:, 2])
        image = (s[:, 0] > s[:, 2]) & (s[:, 3] > s[:, 1])
        out[key] = {"text": 100.0 * text.mean(), "image": 100.0 * image.mean(),
                    "group": 100.0 * (text & image).mean()}
    out["blind"] = {"text": 0.0}
    return out


def blind_model(run: Run, data_dir: str | Path) -> tuple[CaptionLM | None, str]:
    """The blind baseline's language model, fitted on the run's training captions (its
    recorded data folder, else --data's train split), and where they came from."""
    train = training_split(run)
    where = "the run's training split"
    if train is None and "train" in available_splits(data_dir):
        train, where = open_split(data_dir, "train"), f"the train split of {data_dir}"
    if train is None:
        return None, "no training captions found: no blind baseline"
    return CaptionLM.fit(train.captions), f"{where} ({train.num_captions:,} captions)"


def measure_all(run: Run, data_dir: str | Path, split_name: str, paths: list[str | Path],
                out: Path, *, batch_size: int = 128, device: str = "cpu",
                progress: bool = False, part_levels: bool = True) -> dict[str, Any]:
    """{"subsets": {name: figures}, "blind": where its model came from, ...} of every
    benchmark file (module docstring)."""
    split = open_split(data_dir, split_name)
    check_data_fits(run.model.config, split, run.path)
    benchmarks = [read_benchmark(p) for p in paths]  # every file checked before any work
    located = [locate(b, split) for b in benchmarks]
    for loc in located:
        report_missing(loc, split_name)
    if not any(loc.entries for loc in located):
        raise DataError(Path(paths[0]), f"no entry names an image of split '{split_name}' of "
                                        f"{data_dir} (ids in {split_name}_ids.txt)")
    warn_training_overlap(located, split, training_split(run))
    texts = [t for loc in located for e in loc.entries
             for t in ((e.true, e.false) if isinstance(e, Pair) else e.captions)]
    out.mkdir(parents=True, exist_ok=True)
    graphs = caption_graphs(texts, out, progress)
    lm, blind_source = blind_model(run, data_dir)
    levels = part_levels_for(run, data_dir, batch_size=batch_size, device=device,
                             progress=progress) if part_levels else None
    images = ImageTable(split)
    subsets: dict[str, Any] = {}
    for loc in located:
        if not loc.entries:
            continue
        name = loc.benchmark.subset
        subsets[name] = (measure_groups(run, images, loc, graphs, batch_size, device)
                         if loc.benchmark.format == "winoground" else
                         measure_pairs(run, images, loc, graphs, lm, levels, batch_size, device))
        subsets[name]["format"] = loc.benchmark.format
        subsets[name]["file"] = str(loc.benchmark.path)
    return {"checkpoint": str(run.path), "recipe": run.recipe, "data": str(data_dir),
            "split": split_name, "eq5": run.describe_eq5(), "blind": blind_source,
            "part_levels": levels is not None, "subsets": subsets}


def pair_table(subsets: dict[str, Any]) -> str:
    """Markdown: per pair subset, n, each score's accuracy, the blind baseline and
    localization (%)."""
    header = ["subset", "n", *NAMES.values(), "blind (text only)", "localized",
              "localized by chance"]
    rows = [[name, str(r["n"]), *(rep.fmt(r[k]) for k in NAMES), rep.fmt(r.get("blind")),
             rep.fmt(r.get("localized")), rep.fmt(r.get("localized by chance"))]
            for name, r in subsets.items() if r["format"] != "winoground"]
    return rep.md_table(header, rows)


def group_table(subsets: dict[str, Any]) -> str:
    """Markdown: per Winoground subset, the text / image / group score of each score."""
    header = ["subset", "n", *(f"{NAMES[k]} text / image / group" for k in NAMES),
              "blind text"]
    rows = [[name, str(r["n"]), *(" / ".join(rep.fmt(r[k][s]) for s in ("text", "image",
                                                                         "group"))
                                  for k in NAMES), rep.fmt(r["blind"]["text"])]
            for name, r in subsets.items() if r["format"] == "winoground"]
    return rep.md_table(header, rows)


def run_compositional(run: Run, data_dir: str | Path, split: str, paths: list[str | Path],
                      out: str | Path, **kwargs: Any) -> dict[str, Any]:
    """measure_all, then OUT/report.md, OUT/results.json and OUT/compositional.png."""
    out = Path(out)
    results = measure_all(run, data_dir, split, paths, out, **kwargs)
    subsets = results["subsets"]
    pairs = {n: r for n, r in subsets.items() if r["format"] != "winoground"}
    if pairs:
        rep.bar_plot(out / "compositional.png", list(pairs),
                     {NAMES[k]: [r[k] for r in pairs.values()] for k in ("intra", "eq5")}
                     | {"blind (text only)": [r.get("blind", float("nan"))
                                              for r in pairs.values()]},
                     "accuracy (%)", "true caption above the false one")
    lines = [f"# Compositional benchmarks: `{results['checkpoint']}`", "",
             (f"Images from split `{split}` of `{data_dir}`; {results['eq5']}. Blind "
              f"baseline: a bigram model of {results['blind']}."), ""]
    if pairs:
        lines += ["## True against false caption", "",
                  ("Accuracy (%): the true caption scores above the false one (ties one "
                   "half). Localized (%): the part the explain verdict names in the false "
                   "caption touches a word that differs from the true one."), "",
                  pair_table(subsets), "", "![accuracy](compositional.png)", ""]
    if len(pairs) < len(subsets):
        lines += ["## Two images, two captions (Winoground)", "", group_table(subsets), ""]
    lines += ["## Definitions", "", "```text", (__doc__ or "").strip(), "```", ""]
    write_text(out / "report.md", "\n".join(lines))
    write_json(out / "results.json", results)
    return results
