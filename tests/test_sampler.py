from __future__ import annotations

import numpy as np
import pytest

from florenz.data.sampler import BalancedSampler, target_distribution
from florenz.errors import FlorenzError

# Heavily imbalanced raw counts: 2000 caption/en, 50 caption/de, 500 translation/fr.
ITEMS = {"caption/en": np.arange(0, 2000), "caption/de": np.arange(2000, 2050), "translation/fr": np.arange(2050, 2550)}


def test_uniform_over_classes_despite_imbalance():
    s = BalancedSampler(ITEMS, seed=1)
    cls, items = s.draw(30000)
    freq = np.bincount(cls, minlength=3) / len(cls)
    assert np.allclose(freq, 1 / 3, atol=0.015), freq
    for k, c in enumerate(s.classes):  # each drawn item belongs to the drawn class
        assert np.isin(items[cls == k], ITEMS[c]).all()


def test_weights_steer_the_distribution():
    s = BalancedSampler(ITEMS, weights={"caption/en": 2.0, "translation/fr": 0.0}, seed=0)
    cls, _ = s.draw(20000)
    freq = dict(zip(s.classes, np.bincount(cls, minlength=3) / len(cls), strict=True))
    assert freq["translation/fr"] == 0.0
    assert freq["caption/en"] == pytest.approx(2 / 3, abs=0.015)


def test_bad_weights_name_the_class():
    with pytest.raises(FlorenzError, match="caption/xx"):
        BalancedSampler(ITEMS, weights={"caption/xx": 1.0})
    with pytest.raises(FlorenzError, match="caption/de"):
        target_distribution(list(ITEMS), {"caption/de": -1.0})


def test_each_pass_covers_a_class_without_repeats():
    s = BalancedSampler({"caption/de": np.arange(50)}, seed=3)
    _, first = s.draw(50)
    _, second = s.draw(50)
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert not np.array_equal(first, second)  # reshuffled per pass


def test_reproducible_and_resumable():
    a = BalancedSampler(ITEMS, seed=7)
    b = BalancedSampler(ITEMS, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a.draw(100), b.draw(100), strict=True))
    state = a.state_dict()
    expected = a.draw(5000)
    c = BalancedSampler(ITEMS, seed=7)
    c.load_state_dict(state)
    got = c.draw(5000)
    assert all(np.array_equal(x, y) for x, y in zip(expected, got, strict=True))
    other = BalancedSampler(ITEMS, seed=8).draw(100)
    assert not np.array_equal(other[1], BalancedSampler(ITEMS, seed=7).draw(100)[1])


def test_state_mismatch_is_an_error():
    s = BalancedSampler(ITEMS, seed=0)
    with pytest.raises(FlorenzError, match="seed"):
        BalancedSampler(ITEMS, seed=1).load_state_dict(s.state_dict())
