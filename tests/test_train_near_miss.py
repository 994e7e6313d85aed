"""Near-miss partners (ssamt.train.near_miss): by the label rule, on hand-made captions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from test_train_runner import Labels, caption_graph

from ssamt.train.near_miss import find_near_misses, mix_partners, near_miss_partners


def _train(captions: list[tuple[str, str, str]], per_image: int = 2) -> SimpleNamespace:
    graphs = [caption_graph(*c) for c in captions]
    c2i = np.repeat(np.arange(len(graphs) // per_image), per_image)
    return SimpleNamespace(texts=SimpleNamespace(graphs=graphs), num_captions=len(graphs),
                           num_images=len(graphs) // per_image, caption_image=c2i,
                           labels=Labels(graphs, c2i))


# image 0: a red dog on the grass.  image 1: every word of it, but the dog is blue (a near
# miss of image 0's captions).  image 2: a red dog on the road (no grass: a content miss).
TRAIN = _train([("red", "dog", "grass"), ("red", "dog", "grass"),
                ("blue", "dog", "grass"), ("red", "cat", "grass"),
                ("red", "dog", "road"), ("blue", "cat", "road")])


def test_a_near_miss_has_every_word_and_not_the_structure():
    near = find_near_misses(TRAIN)
    per_caption = [near.images[near.first[j]:near.first[j + 1]].tolist() for j in range(6)]
    assert per_caption[0] == per_caption[1] == [1]  # image 2 lacks "grass"; 0 is its own
    # "a blue dog on the grass": image 0 has no "blue"; image 2 has blue (a cat) but no grass
    assert per_caption[2] == []
    # "a red cat on the grass": image 0 has red, grass and no cat; no image holds all
    assert per_caption[3] == []


def test_partners_are_captions_of_near_miss_images_and_mixed_by_share():
    near = find_near_misses(TRAIN)
    gen = torch.Generator().manual_seed(0)
    partners = near_miss_partners(near, TRAIN.caption_image, gen)
    assert set(partners[:2].tolist()) <= {2, 3} and (partners[2:] == -1).all()
    base = np.arange(6)[::-1].copy()
    assert np.array_equal(mix_partners(base, partners, 0.0, gen), base)
    mixed = mix_partners(base, partners, 1.0, gen)
    assert np.array_equal(mixed[:2], partners[:2]) and np.array_equal(mixed[2:], base[2:])
    again = near_miss_partners(near, TRAIN.caption_image, torch.Generator().manual_seed(0))
    assert np.array_equal(partners, again)  # deterministic in the generator's seed


def test_the_share_must_be_a_share():
    import pytest

    from ssamt.errors import ConfigError
    from ssamt.train.config import load_config
    from ssamt.train.validate import validate_config

    with pytest.raises(ConfigError, match="near_miss_share must be between 0 and 1"):
        validate_config(load_config("synthetic", ["loss.near_miss_share=1.5"]))
