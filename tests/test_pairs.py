"""The study's pairwise agreement, checked on hand-worked pairs."""

import math

import pytest

from tqscore.training.pairs import pair_agreement


def test_weighted_majority_and_ceiling_by_hand():
    # pair 1: measure picks a (votes 10/15), pair 2: picks b (votes a 12/15), pair 3: a tie (earns half)
    r = pair_agreement([3.0, 1.0, 2.0], [1.0, 2.0, 2.0], [10, 12, 9], [5, 3, 6])
    assert r.weighted == pytest.approx((10 / 15 + 3 / 15 + 0.5) / 3)
    assert r.majority == pytest.approx((1 + 0 + 0.5) / 3)
    assert r.ceiling == pytest.approx((10 / 15 + 12 / 15 + 9 / 15) / 3)
    assert (r.n, r.missing) == (3, 0)


def test_lower_is_better_flips_the_pick():
    up = pair_agreement([3.0], [1.0], [10], [5])
    down = pair_agreement([3.0], [1.0], [10], [5], higher_is_better=False)
    assert up.weighted == pytest.approx(10 / 15) and down.weighted == pytest.approx(5 / 15)


def test_missing_scores_are_counted_not_tied():
    r = pair_agreement([None, 2.0], [1.0, math.nan], [10, 8], [5, 7])
    assert (r.n, r.missing) == (0, 2) and math.isnan(r.weighted)


def test_bad_votes_rejected():
    with pytest.raises(ValueError):
        pair_agreement([1.0], [2.0], [0], [0])
