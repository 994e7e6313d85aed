"""Search a gallery with a trained model: a FAISS index of the intra embeddings (stage 1)
and the inter encoder's Eq. 5 on each query's top candidates (stage 2).

    from ssamt.search import Searcher, build_index
    build_index("runs/quick", "data/synth", "index/", split="test")
    hits = Searcher.open("index/").text("two dogs catching a frisbee", k=10, rerank_k=32)
"""

from __future__ import annotations

from ssamt.search.build import build_index
from ssamt.search.searcher import Hit, Searcher, SearchResult

__all__ = ["Hit", "SearchResult", "Searcher", "build_index"]
