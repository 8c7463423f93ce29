"""Benchmark loaders on the real text in ../shared/data and on small fixtures in the official schemas."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from florenz.data.benchmarks.coco import load_karpathy
from florenz.data.benchmarks.commute import load_commute
from florenz.data.benchmarks.multi30k import PAPER_MAIN_SPLITS, load_multi30k, load_multi30k_captions
from florenz.data.benchmarks.xm3600 import LANGS, PAPER_UNSEEN, load_xm3600
from florenz.errors import FlorenzError

SIZES = {"test_2016_flickr": 1000, "test_2017_flickr": 1000, "test_2017_mscoco": 461, "test_2018_flickr": 1071}


@pytest.mark.parametrize("split", list(SIZES))
def test_multi30k_task1_real_text(shared_data, split):
    items = load_multi30k(shared_data / "multi30k", split, "en", "fr", text_only=True)
    assert len(items) == SIZES[split]
    assert all(it.image is None and it.src and it.refs[0] for it in items)
    assert items[0].extra["image_name"].endswith(".jpg")


def test_multi30k_known_lines_and_languages(shared_data):
    de = load_multi30k(shared_data / "multi30k", "test_2016_flickr", "en", "de", text_only=True)
    assert de[0].src == "A man in an orange hat starring at something."
    assert de[0].refs == ["Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt."]
    assert PAPER_MAIN_SPLITS == ("test_2016_flickr", "test_2017_flickr", "test_2017_mscoco")
    with pytest.raises(FlorenzError, match="test_2017_flickr.cs"):
        load_multi30k(shared_data / "multi30k", "test_2017_flickr", "en", "cs", text_only=True)


def test_multi30k_missing_images_error_names_first_and_count(shared_data, tmp_path):
    folder = tmp_path / "flickr30k-images"
    folder.mkdir()
    names = (shared_data / "multi30k/task1/image_splits/test_2016_flickr.txt").read_text().split()
    for n in names[1:4]:
        (folder / n).write_bytes(b"jpg")
    with pytest.raises(FlorenzError, match=rf"997 of 1000 images missing, first: .*{names[0]}"):
        load_multi30k(shared_data / "multi30k", "test_2016_flickr", "en", "de", image_dir=folder)
    with pytest.raises(FlorenzError, match=r"all 1000 images missing, first: " + names[0]):
        load_multi30k(shared_data / "multi30k", "test_2016_flickr", "en", "de", image_dir=tmp_path / "nope")


def test_multi30k_task2_five_references(shared_data):
    items = load_multi30k_captions(shared_data / "multi30k", "test_2016", "de", text_only=True)
    assert len(items) == 1000 and all(len(it.refs) == 5 for it in items)


@pytest.mark.parametrize("lang,n", [("de", 300), ("fr", 308), ("cs", 308), ("ru", 324), ("zh", 324), ("ar", 324)])
def test_commute_real_text_every_source_twice_with_swapped_readings(shared_data, lang, n):
    items = load_commute(shared_data / "commute", lang, text_only=True)
    assert len(items) == n
    by_src: dict[str, list] = {}
    for it in items:
        by_src.setdefault(it.src, []).append(it)
    assert Counter(len(v) for v in by_src.values()).keys() <= {2, 4}  # a few sources are listed twice
    unbalanced = [it for group in by_src.values() for it in group
                  if Counter(x.correct for x in group) != Counter(x.incorrect for x in group)]
    # upstream quirk: en-fr has two sources whose readings differ in punctuation / an alternative
    assert len(unbalanced) == (4 if lang == "fr" else 0)


def test_commute_with_images_fixture(tmp_path):
    pair = tmp_path / "en-fr"
    pair.mkdir()
    (pair / "src.en").write_text("the bank\nthe bank\n")
    (pair / "correct.fr").write_text("la banque\nla rive\n")
    (pair / "incorrect.fr").write_text("la rive\nla banque\n")
    (pair / "img.order").write_text("a.jpg\nb.jpg\n")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"x")
    with pytest.raises(FlorenzError, match="1 of 2 images missing, first: .*b.jpg"):
        load_commute(tmp_path, "fr")
    (tmp_path / "images" / "b.jpg").write_bytes(b"x")
    items = load_commute(tmp_path, "fr")
    assert [it.image.name for it in items] == ["a.jpg", "b.jpg"] and items[1].correct == "la rive"


def _xm_fixture(root, keys):
    rows = []
    for k in keys:
        row = {"image/key": k}
        for lang in LANGS:
            caps = [f"{lang} caption {k} one", f"{lang} caption {k} two"]
            row[lang] = {"caption": caps, "caption/tokenized": caps, "caption/tokenized/lowercase": caps}
        rows.append(row)
    (root / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_xm3600_fixture_official_schema(tmp_path):
    _xm_fixture(tmp_path, ["000411001ff7dd4f", "0004886b7d043cfd"])
    assert len(LANGS) == 36 and set(PAPER_UNSEEN) == {"fr", "es", "ru", "zh"}
    items = load_xm3600(tmp_path, "quz", text_only=True)
    assert [it.id for it in items] == ["000411001ff7dd4f", "0004886b7d043cfd"] and len(items[0].refs) == 2
    with pytest.raises(FlorenzError, match=r"2 images missing, first: 000411001ff7dd4f.jpg"):
        load_xm3600(tmp_path, "fr")
    (tmp_path / "images").mkdir()
    for k in ("000411001ff7dd4f", "0004886b7d043cfd"):
        (tmp_path / "images" / f"{k}.jpg").write_bytes(b"x")
    assert load_xm3600(tmp_path, "fr")[1].image.name == "0004886b7d043cfd.jpg"
    with pytest.raises(FlorenzError, match="no language 'xx'"):
        load_xm3600(tmp_path, "xx")


def test_karpathy_fixture_official_schema(tmp_path):
    data = {"dataset": "coco", "images": [
        {"filepath": "val2014", "filename": "COCO_val2014_000000391895.jpg", "imgid": 0, "cocoid": 391895,
         "split": "test", "sentids": [0, 1], "sentences": [
             {"raw": "A man riding a bike.", "tokens": ["a", "man"], "imgid": 0, "sentid": 0},
             {"raw": "Someone on a bicycle.", "tokens": ["someone"], "imgid": 0, "sentid": 1}]},
        {"filepath": "train2014", "filename": "COCO_train2014_000000000009.jpg", "imgid": 1, "cocoid": 9,
         "split": "train", "sentids": [2],
         "sentences": [{"raw": "Food.", "tokens": ["food"], "imgid": 1, "sentid": 2}]},
    ]}
    (tmp_path / "dataset_coco.json").write_text(json.dumps(data))
    items = load_karpathy(tmp_path, "test", text_only=True)
    assert len(items) == 1 and items[0].id == "391895" and items[0].refs[1] == "Someone on a bicycle."
    with pytest.raises(FlorenzError, match="COCO_val2014_000000391895.jpg"):
        load_karpathy(tmp_path, "test", image_root=tmp_path)
    (tmp_path / "val2014").mkdir()
    (tmp_path / "val2014" / "COCO_val2014_000000391895.jpg").write_bytes(b"x")
    assert load_karpathy(tmp_path / "dataset_coco.json", "test")[0].image.is_file()
