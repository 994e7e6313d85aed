"""Random, correctly padded model inputs for tests and benchmarks (no data files needed).

A test helper, not part of the package: tests import it as `random_batches` (pytest puts
tests/ on sys.path); benchmarks first `import _tests_path` (benchmarks/_tests_path.py)."""

from __future__ import annotations

import torch

from ssamt.data.batch import ImageBatch, TextBatch


def random_text_batch(n: int, max_tokens: int, max_phrases: int, vocab_size: int,
                      generator: torch.Generator | None = None,
                      full: bool = False) -> TextBatch:
    """n captions with 1..max_tokens words and 0..max_phrases phrases (all max when full).

    Each phrase spans a random contiguous run of 1-3 of its caption's real words.
    """
    g = generator
    n_tok = torch.full((n,), max_tokens) if full else torch.randint(1, max_tokens + 1, (n,),
                                                                     generator=g)
    n_phr = torch.full((n,), max_phrases) if full else torch.randint(0, max_phrases + 1, (n,),
                                                                      generator=g)
    pos = torch.arange(max_tokens)
    token_mask = pos[None] < n_tok[:, None]  # (n, L)
    token_ids = torch.randint(2, vocab_size, (n, max_tokens), generator=g) * token_mask
    phrase_mask = torch.arange(max_phrases)[None] < n_phr[:, None]  # (n, P)
    phrase_types = torch.randint(1, 4, (n, max_phrases), generator=g) * phrase_mask
    start = (torch.rand(n, max_phrases, generator=g) * n_tok[:, None]).long()  # (n, P)
    width = torch.randint(1, 4, (n, max_phrases), generator=g)
    spans = (pos[None, None] >= start[..., None]) & (pos[None, None] < (start + width)[..., None])
    spans &= token_mask[:, None] & phrase_mask[..., None]  # (n, P, L)
    return TextBatch(token_ids, token_mask, phrase_types, phrase_mask, spans)


def random_image_batch(n: int, max_regions: int, d_region: int, d_box: int = 0,
                       generator: torch.Generator | None = None,
                       full: bool = False) -> ImageBatch:
    """n images with 1..max_regions regions (all when full), random features and boxes."""
    g = generator
    n_reg = torch.full((n,), max_regions) if full else torch.randint(1, max_regions + 1, (n,),
                                                                      generator=g)
    region_mask = torch.arange(max_regions)[None] < n_reg[:, None]  # (n, R)
    regions = torch.randn(n, max_regions, d_region, generator=g) * region_mask[..., None]
    boxes = torch.rand(n, max_regions, d_box, generator=g) if d_box > 0 else None
    return ImageBatch(regions, region_mask, boxes)
