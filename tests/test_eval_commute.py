"""CoMMuTE scoring: sign convention, and exactly 50.0 for a model that ignores the image."""

from __future__ import annotations

import zlib

import pytest

from florenz.data.benchmarks.commute import CommuteItem, load_commute
from florenz.evaluate.commute import commute_accuracy, item_outcome, score_commute, unbalanced_items


def test_sign_convention_lower_perplexity_of_correct_wins():
    assert item_outcome(ce_correct=1.0, ce_incorrect=2.0) == 1.0
    assert item_outcome(ce_correct=2.0, ce_incorrect=1.0) == 0.0
    assert item_outcome(1.5, 1.5) == 0.5
    assert commute_accuracy([1.0, 3.0, 0.5, 2.0], [2.0, 1.0, 0.7, 2.0]) == pytest.approx(62.5)


def _blind_ce(triples):
    """A model that ignores the image: CE depends on (source, text) only, arbitrarily but deterministically."""
    return [(zlib.crc32(f"{src}|{text}".encode()) % 1000) / 100.0 for _image, src, text in triples]


@pytest.mark.parametrize("lang", ["de", "fr", "ru", "zh", "cs", "ar"])
def test_image_blind_model_scores_exactly_50(shared_data, lang, tmp_path):
    items = load_commute(shared_data / "commute", lang, text_only=True)
    bad = set(unbalanced_items(items))
    assert len(bad) == (4 if lang == "fr" else 0)  # en-fr: two upstream sources with mismatched readings
    items = [it for it in items if it.id not in bad]
    assert score_commute(items, _blind_ce)["accuracy"] == 50.0
    # with (distinct) images too: still blind, still exactly 50
    with_images = [CommuteItem(it.id, it.lang, it.src, it.correct, it.incorrect, it.image_name,
                               tmp_path / it.image_name) for it in items]
    assert score_commute(with_images, _blind_ce)["accuracy"] == 50.0


def test_image_aware_model_scores_above_50(shared_data, tmp_path):
    items = load_commute(shared_data / "commute", "fr", text_only=True)
    items = [CommuteItem(it.id, it.lang, it.src, it.correct, it.incorrect, it.image_name, tmp_path / it.image_name)
             for it in items]
    truth = {(str(tmp_path / it.image_name), it.src): it.correct for it in items}

    def oracle(triples):
        return [0.1 if truth.get((img, src)) == text else 2.0 for img, src, text in triples]

    res = score_commute(items, oracle)
    assert res["accuracy"] == 100.0 and res["rows"][0]["outcome"] == 1.0 and not res["text_only"]
