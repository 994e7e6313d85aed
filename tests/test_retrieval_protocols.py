"""Evaluation protocols: fold layout, averaging, RSum of COCO 1K."""

from __future__ import annotations

import numpy as np
import pytest

from ssamt.errors import ConfigError
from ssamt.retrieval.metrics import METRIC_KEYS, recall_from_scores, recall_from_similarity
from ssamt.retrieval.protocols import (
    average_metrics,
    consecutive_folds,
    make_folds,
    run_protocol,
)


def _split(n_img: int, per_image: int = 5) -> np.ndarray:
    return np.repeat(np.arange(n_img), per_image)


def test_coco1k_is_five_consecutive_folds_with_local_caption_ids():
    c2i = _split(50, 5)
    folds = make_folds("coco1k", c2i, 50)
    assert len(folds) == 5
    for f, fold in enumerate(folds):
        assert list(fold.image_indices) == list(range(10 * f, 10 * f + 10))
        assert list(fold.caption_indices) == list(range(50 * f, 50 * f + 50))
        assert fold.caption_to_image.min() == 0 and fold.caption_to_image.max() == 9
        assert np.array_equal(fold.image_indices[fold.caption_to_image], c2i[fold.caption_indices])


def test_real_coco_sizes_give_1000_image_folds():
    folds = make_folds("coco1k", _split(5000), 5000)
    assert [f.num_images for f in folds] == [1000] * 5
    assert [f.num_captions for f in folds] == [5000] * 5


@pytest.mark.parametrize("protocol", ["f30k", "coco5k"])
def test_single_fold_protocols_take_the_split_as_is(protocol):
    c2i = np.array([0, 0, 1, 2, 2, 2, 3])  # varied captions per image, any size
    (fold,) = make_folds(protocol, c2i, 4)
    assert fold.num_images == 4 and np.array_equal(fold.caption_to_image, c2i)


def test_ungrouped_captions_are_assigned_to_their_fold():
    c2i = np.array([3, 0, 1, 2, 0, 3, 1, 2, 4, 5, 6, 7, 8, 9])
    folds = consecutive_folds(c2i, 10, 5)
    for fold in folds:
        assert np.array_equal(fold.image_indices[fold.caption_to_image], c2i[fold.caption_indices])
    assert sum(f.num_captions for f in folds) == len(c2i)


def test_indivisible_fold_count_is_a_clear_error():
    with pytest.raises(ConfigError, match="divisible by 5"):
        make_folds("coco1k", _split(12), 12)


def test_unknown_protocol():
    with pytest.raises(ConfigError, match="unknown protocol"):
        make_folds("coco2k", _split(5), 5)


def test_coco1k_rsum_is_sum_of_averaged_recalls():
    rng = np.random.default_rng(0)
    c2i = _split(100, 5)
    sims = rng.normal(size=(100, 500)) + 3 * (np.arange(100)[:, None] == c2i[None, :])

    def score(fold):
        return {"m": sims[np.ix_(fold.image_indices, fold.caption_indices)]}

    result = run_protocol("coco1k", c2i, 100, score)
    mean = result["mean"]["m"]
    assert tuple(mean) == METRIC_KEYS
    assert mean["rsum"] == pytest.approx(sum(mean[k] for k in METRIC_KEYS if k != "rsum"))
    # Each metric is the mean of the five fold metrics computed directly.
    folds = make_folds("coco1k", c2i, 100)
    direct = [
        recall_from_similarity(sims[np.ix_(f.image_indices, f.caption_indices)], f.caption_to_image)
        for f in folds
    ]
    assert result["folds"] == [{"m": d} for d in direct]
    for key in METRIC_KEYS:
        assert mean[key] == pytest.approx(np.mean([d[key] for d in direct]))


def test_fold_scores_may_be_a_direction_pair():
    rng = np.random.default_rng(1)
    c2i = _split(10, 2)
    a, b = rng.normal(size=(2, 10, 20))
    result = run_protocol("coco5k", c2i, 10, lambda fold: {"x": (a, b)})
    assert result["mean"]["x"] == recall_from_scores(a, b, c2i)
    assert result["num_folds"] == 1


def test_average_metrics_hand_case():
    one = dict.fromkeys(METRIC_KEYS, 10.0) | {"rsum": 60.0}
    two = dict.fromkeys(METRIC_KEYS, 20.0) | {"rsum": 120.0}
    assert average_metrics([one, two]) == dict.fromkeys(METRIC_KEYS, 15.0) | {"rsum": 90.0}
