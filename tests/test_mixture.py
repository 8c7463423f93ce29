"""The fine-tuning mixture from the real Multi30K text (+ COCO-mini captions in Karpathy format)."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import pytest
import torch
from PIL import Image

from florenz.cli import main
from florenz.data.pipeline.tiny import build_tiny_translator
from florenz.data.shards import read_records, read_stats

N = 8  # images per source and split


@pytest.fixture(scope="module")
def env(shared_data, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("mix")
    m30k = shared_data / "multi30k"
    with gzip.open(m30k / "task1" / "raw" / "val.en.gz", "rt", encoding="utf-8") as f:
        texts = [next(f).strip() for _ in range(200)]
    translator = build_tiny_translator(root / "mt", texts, ["en", "de", "fr", "cs", "es"])
    # Flickr30k images are a separate download: stand-ins named as in image_splits, one left missing.
    flickr = root / "flickr30k-images"
    flickr.mkdir()
    names = set()
    for split in ("train", "val"):
        for fname in (f"task1/image_splits/{split}.txt", f"task2/image_splits/{split}_images.txt"):
            names |= set((m30k / fname).read_text().split()[:N])
    missing = sorted(names)[0]
    for i, n in enumerate(sorted(names)):
        if n != missing:
            Image.new("RGB", (24, 24), (i * 7 % 255, 80, 160)).save(flickr / n, format="JPEG")
    # COCO-mini in Karpathy format: first 40 images train, rest val.
    coco = json.loads((shared_data / "coco-mini" / "captions.json").read_text())
    caps: dict[int, list[str]] = {}
    for a in coco["annotations"]:
        caps.setdefault(a["image_id"], []).append(a["caption"])
    karpathy = {"dataset": "coco", "images": [
        {"filepath": "", "filename": im["file_name"], "cocoid": im["id"], "split": "train" if i < 40 else "val",
         "sentences": [{"raw": c} for c in caps[im["id"]]]} for i, im in enumerate(coco["images"])]}
    kpath = root / "dataset_coco.json"
    kpath.write_text(json.dumps(karpathy))
    out = root / "mixture"
    args = ["data", "mixture", "--out", str(out), "--languages", "en,de,fr,cs,es", "--multi30k", str(m30k),
            "--multi30k-images", str(flickr), "--karpathy", str(kpath),
            "--coco-images", str(shared_data / "coco-mini" / "images"), "--translator", str(translator),
            "--max-images", str(N), "--translate-tokens", "6", "--beams", "1"]
    assert main(args) == 0
    yield {"out": out, "m30k": m30k, "names": names, "missing": missing}
    torch.set_num_threads(threads)


def test_mixture_contents(env):
    out, m30k = env["out"], env["m30k"]
    stats = read_stats(out)
    assert stats["skipped"]["missing_image"] == 1
    train = [r.meta for r in read_records(out, "train")]
    heldout = [r.meta for r in read_records(out, "heldout")]
    for split, metas in (("train", train), ("heldout", heldout)):
        assert stats["splits"][split] == dict(Counter(f"{s['task']}/{s['lang']}" for m in metas for s in m["samples"]))
    counts = stats["counts"]
    assert {k for k in counts if k.startswith("caption/")} == {f"caption/{x}" for x in ("en", "de", "fr", "cs", "es")}
    assert {k for k in counts if k.startswith("translation/")} == {f"translation/{x}" for x in ("de", "fr", "cs", "es")}
    coco = [m for m in train if m["source"] == "coco"]
    assert len(coco) == N and len([m for m in heldout if m["source"] == "coco"]) == N
    # Multi30K task 1: the real en/de pairs of the real image names.
    with gzip.open(m30k / "task1" / "raw" / "train.en.gz", "rt") as f:
        en0 = next(f).strip()
    with gzip.open(m30k / "task1" / "raw" / "train.de.gz", "rt") as f:
        de0 = next(f).strip()
    name0 = (m30k / "task1" / "image_splits" / "train.txt").read_text().split()[0]
    rec = next((m for m in train if m["image_name"] == name0), None)
    if name0 == env["missing"]:
        assert rec is None
    else:
        assert {"task": "translation", "lang": "de", "style": "short", "src": en0, "tgt": de0} in rec["samples"]
    for m in train + heldout:
        langs = Counter((s["task"], s["lang"]) for s in m["samples"])
        assert langs[("caption", "es")] == 1 and langs[("translation", "es")] == 1  # mt_per_image=1
        assert langs[("translation", "fr")] in (0, 1)  # fr pairs are human (task 1), never MT
        es_pair = next(s for s in m["samples"] if s["task"] == "translation" and s["lang"] == "es")
        es_cap = next(s for s in m["samples"] if s["task"] == "caption" and s["lang"] == "es")
        assert es_pair["tgt"] == es_cap["tgt"] and es_pair["src"]
        for s in m["samples"]:
            assert s["tgt"].strip() and (s["task"] == "caption") == (s["src"] == "")


def test_mixture_needs_translator_for_other_languages(tmp_path, env, capsys):
    args = ["data", "mixture", "--out", str(tmp_path / "x"), "--languages", "en,de,es", "--multi30k",
            str(env["m30k"]), "--multi30k-images", str(tmp_path / "nowhere")]
    assert main(args) == 1
    assert "Multi30K image folder not found" in capsys.readouterr().err
