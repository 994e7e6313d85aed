"""Open an index folder (ssamt.search.build) and answer queries in two stages.

Stage 1: the query's intra embedding against the FAISS index of the other modality.
Stage 2: the inter encoder scores the top `rerank_k` candidates with Eq. 5
(ssamt.retrieval.pair_scores), which then rank above the other stage-1 candidates.

Opening reads no features: the split is memory-mapped and stage 2 reads only the candidate
rows. It refuses a checkpoint or a data split that changed since the index was built, and an
index folder whose files are not those its build wrote (ssamt.search.integrity).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssamt.bounds import THREADS_PER_CPU, max_threads
from ssamt.data.fingerprint import fingerprint_matches
from ssamt.data.precomp import open_split
from ssamt.data.tables import ImageTable, TextTable
from ssamt.data.vocab import UNK
from ssamt.errors import CheckpointError, DataError, SsamtError
from ssamt.labels.parser import parse
from ssamt.pipelines.part_levels import part_levels_for
from ssamt.retrieval.encode import encode_texts
from ssamt.retrieval.pair_scores import score_pairs
from ssamt.search.ann import import_faiss, search
from ssamt.search.integrity import (
    IndexFiles,
    check_fits_split,
    image_rows_by_id,
    open_index_files,
    read_caption_graph,
)
from ssamt.search.manifest import REBUILD, file_sha256, read_manifest
from ssamt.search.results import Hit, SearchResult, rank_hits
from ssamt.train.checkpoint import resolve_checkpoint
from ssamt.train.trained_run import Run, load_run

MAX_QUERY_CHARS = 1000


class Searcher:
    """A gallery ready to search; build with `Searcher.open(index_dir)`."""

    def __init__(self, index_dir: Path, manifest: dict[str, Any], files: IndexFiles, run: Run,
                 split: Any, mu1: float, mu2: float, device: str) -> None:

        self.index_dir, self.manifest = index_dir, manifest
        self.run, self.model, self.vocab, self.split = run, run.model, run.vocab, split
        self.mu1, self.mu2, self.device = mu1, mu2, device
        self.threads: int | None = None  # set by open(threads=...)
        self.image_table = ImageTable(split)
        self.image_index, self.caption_index = files.image_index, files.caption_index
        self.image_emb, self.caption_emb = files.image_emb, files.caption_emb
        self._offsets = files.offsets
        self._id_to_index = image_rows_by_id(split)
        self._part_levels: tuple[Any] | None = None  # (PartLevels or None,) once measured

    def part_levels(self) -> Any:
        """The run's part levels for the explain verdict (ssamt.pipelines.part_levels): from
        the gallery's data folder when it holds the run's training split, else those cached
        beside the checkpoint, else None; looked up on the first call only."""
        if self._part_levels is None:
            self._part_levels = (part_levels_for(self.run, self.split.data_dir,
                                                 device=self.device),)
        return self._part_levels[0]

    # ---- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, index_dir: str | Path, *, device: str = "cpu",
             checkpoint: str | Path | None = None, data: str | Path | None = None,
             mu1: float | None = None, mu2: float | None = None,
             threads: int | None = None) -> Searcher:
        """checkpoint / data: where the run and the data folder are now, when they moved
        since the build (default: the paths in the manifest). Either must hash as at the
        build, else CheckpointError / DataError; so must every file of the index folder
        (ssamt.search.integrity), else DataError naming it.
        threads: CPU threads of torch and FAISS for this process (default: leave them).
        One query's tensors are small, so on a busy machine 1 thread is the fastest: each
        parallel region otherwise waits for a second core (BENCHMARKS.md, Search)."""
        if threads is not None:
            set_threads(threads)
        index_dir = Path(index_dir)
        manifest = read_manifest(index_dir)
        files = open_index_files(index_dir, manifest)
        ckpt, split = _verified_inputs(index_dir, manifest, checkpoint, data)
        check_fits_split(index_dir, manifest, split)
        run = load_run(ckpt, device)
        mu1, mu2 = run.eq5_weights(mu1, mu2)
        searcher = cls(index_dir, manifest, files, run, split, mu1, mu2, device)
        searcher.threads = threads
        return searcher

    # ---- lookups ---------------------------------------------------------------------------
    def image_id(self, i: int) -> str | int:
        """The id of image i: its line of {split}_ids.txt, else i."""
        return self.split.ids[i] if self.split.ids is not None else i

    def resolve_image(self, image_id: str | int) -> int:
        """Image index of an id (ids.txt line where the split has one, else an index)."""
        key = str(image_id).strip()
        if self._id_to_index is not None:
            if key in self._id_to_index:
                return self._id_to_index[key]
            example = self.split.ids[0]
            raise SsamtError(f"unknown image id {key!r}: not in {self.split.split}_ids.txt "
                             f"(ids look like {example!r})")
        if key.isdigit() and int(key) < self.split.num_images:
            return int(key)
        raise SsamtError(f"unknown image id {key!r}: this gallery has no ids file, so an id is "
                         f"an image index 0..{self.split.num_images - 1}")

    def caption_graphs(self, lines: list[int] | np.ndarray) -> list[Any]:
        """CaptionGraphs of caption lines, read from the index (no parser needed); DataError
        naming captions.jsonl and the line when one is not the parse of its caption."""
        path = self.index_dir / "captions.jsonl"
        try:
            with open(path, "rb") as handle:
                return [read_caption_graph(handle, path, self._offsets, int(j),
                                           self.split.captions[int(j)]) for j in lines]
        except OSError as exc:
            raise DataError(path, f"cannot read the index file ({exc.strerror or exc}): "
                                  f"{REBUILD}") from None

    # ---- queries ---------------------------------------------------------------------------
    def parse_query(self, query: str) -> Any:
        """The CaptionGraph of a text query; SsamtError when it is empty or too long."""
        if not isinstance(query, str) or not query.strip():
            raise SsamtError("the query is empty: give a caption with at least one word")
        if len(query) > MAX_QUERY_CHARS:
            raise SsamtError(f"the query is {len(query)} characters long; at most "
                             f"{MAX_QUERY_CHARS}")
        graph = parse([query])[0]
        if self.threads is not None:  # loading spaCy (thinc) resets torch's threads
            set_threads(self.threads)
        if not graph.tokens:
            raise SsamtError("the query has no words to search for")
        return graph

    def unknown_words(self, graph: Any) -> list[str]:
        """The query's tokens the model reads as <unk>."""
        return [t for t in graph.tokens if self.vocab.id(t) == UNK]

    def text(self, query: str, k: int = 10, rerank_k: int = 32) -> SearchResult:
        """Text -> images: the k best images for a caption of one's own."""
        _check_k(k, rerank_k)
        graph = self.parse_query(query)
        if len(self.unknown_words(graph)) == len(graph.tokens):
            raise SsamtError(f"no word of the query {query!r} is in the model's vocabulary: "
                             "nothing to search for")
        t0 = time.perf_counter()
        table = TextTable([graph], self.vocab, max_tokens=self.run.max_tokens)
        q = encode_texts(self.model, table, device=self.device)  # (1, d)
        scores, ids = search(self.image_index, q.numpy(), max(k, rerank_k))
        ids, scores = ids[0][ids[0] >= 0], scores[0][ids[0] >= 0]
        cand = ids[:rerank_k]
        t1 = time.perf_counter()
        eq5 = self._stage2(np.arange(len(cand)), np.zeros(len(cand), dtype=np.int64),
                           self.image_table, table,
                           torch.from_numpy(np.asarray(self.image_emb[cand])), q,
                           image_ids=cand, caption_ids=[0])
        seconds = {"stage1": t1 - t0, "stage2": time.perf_counter() - t1}

        def make(i, score, s1, value, rank, rank1) -> Hit:
            i = int(i)
            return Hit(i, self.image_id(i), score, s1, value, rank, rank1,
                       image_id=self.image_id(i), captions=tuple(self.split.image_captions(i)))

        hits = rank_hits(ids.tolist(), scores.tolist(), eq5, make)
        unknown = self.unknown_words(graph)
        return SearchResult("text", query, k, rerank_k, self.mu1, self.mu2, hits, seconds,
                            unknown, recipe=self.run.recipe)

    def image(self, image_id: str | int, k: int = 10, rerank_k: int = 32) -> SearchResult:
        """Image -> captions: the k best captions of the gallery for one of its images."""
        _check_k(k, rerank_k)
        i = self.resolve_image(image_id)
        t0 = time.perf_counter()
        q = torch.from_numpy(np.array(self.image_emb[i : i + 1]))  # (1, d)
        scores, ids = search(self.caption_index, q.numpy(), max(k, rerank_k))
        ids, scores = ids[0][ids[0] >= 0], scores[0][ids[0] >= 0]
        cand = ids[:rerank_k]
        t1 = time.perf_counter()
        table = TextTable(self.caption_graphs(cand), self.vocab, max_tokens=self.run.max_tokens)
        eq5 = self._stage2(np.zeros(len(cand), dtype=np.int64), np.arange(len(cand)),
                           self.image_table, table, q,
                           torch.from_numpy(np.asarray(self.caption_emb[cand])),
                           image_ids=[i], caption_ids=np.arange(len(cand)))
        seconds = {"stage1": t1 - t0, "stage2": time.perf_counter() - t1}
        per = self.split.captions_per_image

        def make(j, score, s1, value, rank, rank1) -> Hit:
            j = int(j)
            return Hit(j, j, score, s1, value, rank, rank1, text=self.split.captions[j],
                       image_id=self.image_id(j // per))

        hits = rank_hits(ids.tolist(), scores.tolist(), eq5, make)
        return SearchResult("image", self.image_id(i), k, rerank_k, self.mu1, self.mu2, hits,
                            seconds, recipe=self.run.recipe)

    def _stage2(self, img_pos: np.ndarray, cap_pos: np.ndarray, image_table: Any,
                text_table: Any, img_emb: torch.Tensor, txt_emb: torch.Tensor, *,
                image_ids: Any, caption_ids: Any) -> list[float]:
        """Eq. 5 of the pairs (img_emb[img_pos[m]], txt_emb[cap_pos[m]]), one per candidate."""
        if len(img_pos) == 0:
            return []
        pairs = np.stack([img_pos, cap_pos], axis=1).astype(np.int64)
        scored = score_pairs(self.model, image_table, text_table, pairs, image_ids=image_ids,
                             caption_ids=caption_ids, img_emb=img_emb, txt_emb=txt_emb,
                             device=self.device)
        return scored.scores.eq5(self.mu1, self.mu2).tolist()


def _verified_inputs(index_dir: Path, manifest: dict[str, Any], checkpoint: str | Path | None,
                     data: str | Path | None) -> tuple[Path, Any]:
    """The checkpoint file and the opened split of an index, both checked against the
    manifest: CheckpointError / DataError when either changed since the build."""
    ckpt = resolve_checkpoint(checkpoint) if checkpoint else Path(manifest["checkpoint"])
    if not ckpt.is_file():
        raise CheckpointError(ckpt, "checkpoint of this index not found (moved? pass its "
                                    "new path with --checkpoint)")
    if file_sha256(ckpt) != manifest["checkpoint_sha256"]:
        raise CheckpointError(ckpt, f"not the checkpoint index {index_dir} was built with "
                                    "(its hash differs): rebuild the index with `ssamt index`")
    data_dir = Path(data or manifest["data"])
    split = open_split(data_dir, manifest["split"])
    if not fingerprint_matches(str(manifest["data_fingerprint"]), split):
        raise DataError(data_dir, f"split '{manifest['split']}' changed since index "
                                  f"{index_dir} was built: rebuild it with `ssamt index`")
    return ckpt, split


def set_threads(n: int) -> None:
    """Threads of torch's and FAISS's OpenMP pools (process-wide), at most a few per CPU:
    a pool of thousands fails to start."""
    if not 1 <= n <= max_threads():
        raise SsamtError(f"threads must be between 1 and {max_threads()} ({THREADS_PER_CPU} per "
                         f"CPU), got {n}")
    torch.set_num_threads(n)
    import_faiss().omp_set_num_threads(n)


def _check_k(k: int, rerank_k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise SsamtError(f"k must be >= 1, got {k}")
    if not isinstance(rerank_k, int) or rerank_k < 0:
        raise SsamtError(f"rerank-k must be >= 0 (0 = stage 1 only), got {rerank_k}")


__all__ = ["Hit", "SearchResult", "Searcher"]
