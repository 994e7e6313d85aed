"""FAISS inner-product indexes over L2-normalized embeddings (so inner product = cosine).

kind "flat" is exact. "hnsw" and "ivf" are approximate, for galleries where a flat scan is
too slow; `approx_recall` measures what they lose against the exact index, and the build
prints it, because an approximate stage 1 silently caps the recall of both stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ssamt.errors import ConfigError, DataError, SsamtError

KINDS = ("flat", "hnsw", "ivf")


def import_faiss() -> Any:
    try:
        import faiss  # optional dependency
    except ImportError:
        raise SsamtError("search needs faiss: pip install 'ssamt[search]' (faiss-cpu)") from None
    return faiss


def _as_f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def ivf_lists(n: int) -> int:
    """Default IVF cells: about 4 sqrt(n), and at least 39 training points per cell (below
    that FAISS's k-means warns and cells are poor)."""
    return max(1, min(int(4 * np.sqrt(n)), n // 39))


def build_ann(emb: np.ndarray, kind: str = "flat", *, hnsw_m: int = 32,
              ivf_nlist: int | None = None, nprobe: int = 16) -> Any:
    """A FAISS index of the rows of `emb` (N, d) float32 L2-normalized, ids 0..N-1."""
    faiss = import_faiss()
    emb = _as_f32(emb)
    d = emb.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = max(64, 2 * hnsw_m)
    elif kind == "ivf":
        nlist = ivf_nlist or ivf_lists(len(emb))
        if not 1 <= nlist <= len(emb):
            raise ConfigError(f"--ivf-lists must be in 1..{len(emb)} (the gallery size)")
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(emb)
        index.nprobe = min(nprobe, nlist)
    else:
        raise ConfigError(f"unknown index kind {kind!r} (choose from {', '.join(KINDS)})")
    index.add(emb)
    return index


def search(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(Q, d) queries -> (Q, k') scores and ids, k' = min(k, index size), best first."""
    k = min(k, index.ntotal)
    scores, ids = index.search(_as_f32(queries), k)
    return scores, ids.astype(np.int64)


def approx_recall(index: Any, emb: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Mean fraction of the exact top-k (a flat index over `emb` (N, d)) that `index` finds
    for each of `queries` (Q, d)."""
    k = min(k, len(emb))
    _, exact = search(build_ann(emb, "flat"), queries, k)
    _, found = search(index, queries, k)
    hits = [len(set(e.tolist()) & set(f.tolist())) for e, f in zip(exact, found)]
    return float(np.sum(hits) / (k * len(queries)))


def save_ann(index: Any, path: str | Path) -> None:
    import_faiss().write_index(index, str(path))


def load_ann(path: str | Path) -> Any:
    faiss = import_faiss()
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:

        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        raise DataError(path, f"cannot read FAISS index: {first}") from None
