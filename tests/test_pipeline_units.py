"""Units of the data pipeline: sentence split, sample conversion, blocked top-k, backend errors."""

from __future__ import annotations

import pytest
import torch

from florenz.data.pipeline.align import topk_cosine
from florenz.data.pipeline.backends import keep_before_context, load_embedder
from florenz.data.pipeline.samples import annotation_samples, split_sentences
from florenz.data.pipeline.sources import parse_bitext_specs
from florenz.errors import FlorenzError

DESC = ("A man rides a brown horse on a beach. Waves roll in behind him! "
        "The sky is cloudy. A dog runs alongside.")


def test_split_sentences():
    assert split_sentences(DESC) == ["A man rides a brown horse on a beach.", "Waves roll in behind him!",
                                     "The sky is cloudy.", "A dog runs alongside."]
    assert split_sentences("  ") == [] and split_sentences("no stop") == ["no stop"]
    assert split_sentences("一只狗。两只猫。") == ["一只狗。", "两只猫。"]


def test_annotation_samples_styles_and_translations():
    en = split_sentences(DESC)
    de = ["Ein Mann reitet.", "Wellen rollen!", "Der Himmel ist bewölkt.", "Ein Hund rennt."]
    pairs = [{"en": f"e{i}", "tgt": f"f{i}", "score": 1.0 - i / 10, "row": i} for i in range(4)]
    ann = {"id": "img1", "description": {"en": en, "de": de}, "matches": {"fr": pairs, "cs": pairs[:1]}}
    got = annotation_samples(ann, ["en", "de"], seed=3)
    caps = {(s["lang"], s["style"]): s["tgt"] for s in got if s["task"] == "caption"}
    assert caps[("en", "short")] == en[0]
    assert caps[("en", "detailed")] == " ".join(en[:2])
    assert caps[("en", "paragraph")] == " ".join(en)
    assert caps[("de", "detailed")] == "Ein Mann reitet. Wellen rollen!"
    tr = [s for s in got if s["task"] == "translation"]
    assert {"task": "translation", "lang": "de", "style": "detailed", "src": " ".join(en), "tgt": " ".join(de)} in tr
    assert sum(s["lang"] == "fr" and s["style"] == "short" for s in tr) == 4
    para = [s for s in tr if s["style"] == "paragraph"]
    assert [s["lang"] for s in para] == ["fr"]  # one pair is too few for a paragraph
    n = len(para[0]["src"].split())
    assert 2 <= n <= 4 and len(para[0]["tgt"].split()) == n
    assert [f"e{para[0]['tgt'].split()[i][1:]}" for i in range(n)] == para[0]["src"].split()  # pairs stay aligned
    assert annotation_samples(ann, ["en", "de"], seed=3) == got
    short = annotation_samples({"id": "x", "description": {"en": en[:1]}, "matches": {}}, ["en", "de"], 0)
    assert [s["style"] for s in short] == ["short"]


def test_blocked_topk_matches_full_and_breaks_ties_by_index():
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(7, 16, generator=g), dim=-1)
    k = torch.nn.functional.normalize(torch.randn(300, 16, generator=g), dim=-1)
    s_full, i_full = topk_cosine(q, k, 5, block_size=10_000)
    s_blk, i_blk = topk_cosine(q, k.numpy(), 5, block_size=17)
    assert torch.equal(i_full, i_blk) and torch.allclose(s_full, s_blk)
    assert torch.equal(i_full, torch.topk(q @ k.T, 5).indices)
    dup = torch.cat([k[:3], k[:3]])  # exact ties: the earlier key wins, whatever the blocks
    _, i = topk_cosine(k[:1], dup, 2, block_size=2)
    assert i.tolist() == [[0, 3]]
    with pytest.raises(FlorenzError, match="nearest-neighbour backend"):
        topk_cosine(q, k, 2, backend="annoy")


def test_context_is_dropped_from_translations():
    assert keep_before_context("Ein Hund. ### (Ein Hund rennt am Strand.)") == "Ein Hund."
    assert keep_before_context("  Ein  Hund ") == "Ein Hund"


def test_backend_and_input_errors(tmp_path):
    with pytest.raises(FlorenzError, match="embedder model directory not found"):
        load_embedder(str(tmp_path / "nope"))
    with pytest.raises(FlorenzError, match="open_clip"):
        load_embedder(f"open_clip:ViT-B-32:{tmp_path / 'w.bin'}")
    with pytest.raises(FlorenzError, match="LANG=PATH"):
        parse_bitext_specs(["fr:/x.tsv"])
    with pytest.raises(FlorenzError, match="not found"):
        parse_bitext_specs([f"fr={tmp_path / 'missing.tsv'}"])
    with pytest.raises(FlorenzError, match="unknown language"):
        parse_bitext_specs([f"xx={tmp_path}"])


def test_webdataset_image_source(tmp_path):
    """CC12M-style shards: KEY.jpg + KEY.txt (alt-text), in order; an imageless sample comes through empty."""
    import io

    import webdataset as wds
    from PIL import Image

    from florenz.data.pipeline.sources import iter_images

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="JPEG")
    with wds.TarWriter(str(tmp_path / "cc-000000.tar")) as w:
        w.write({"__key__": "dir/a", "jpg": buf.getvalue(), "txt": b"a red square"})
        w.write({"__key__": "b", "txt": b"text without image"})
        w.write({"__key__": "c", "jpg": buf.getvalue(), "txt": b"another"})
    items = list(iter_images(tmp_path))
    assert [(i.key, i.ext, i.alt_text) for i in items] == [
        ("dir_a", "jpg", "a red square"), ("b", "", "text without image"), ("c", "jpg", "another")]
    assert items[1].data == b""
    assert items[0].data == buf.getvalue()
    with pytest.raises(FlorenzError, match="image source not found"):
        list(iter_images(tmp_path / "missing"))
