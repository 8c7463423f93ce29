"""End-to-end use of a checkpoint: florenz.load + caption/translate, and the CLI, on real photos
(../shared/data/coco-mini) and micro-world images, with bad files handled as documented."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

import florenz
from florenz.cli import main
from florenz.data.shards import decode_image, read_records
from florenz.data.tokenizer import load_tokenizer
from florenz.errors import FlorenzError
from florenz.models.build import build_model
from florenz.models.checkpoint import save_model
from florenz.models.config import ModelConfig
from florenz.models.processor import FlorenzProcessor
from florenz.world.build import build_world
from florenz.world.config import WorldConfig


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    cfg = WorldConfig(train_scenes=40, heldout_scenes=8, lm_sentences=40, shard_size=50, vocab_size=600)
    return build_world(cfg, tmp_path_factory.mktemp("world") / "w")


@pytest.fixture(scope="module")
def checkpoint(world, tmp_path_factory) -> Path:
    tok = load_tokenizer(world)
    model = build_model(ModelConfig(preset="micro-gemma-xs"), tokenizer=tok)
    return save_model(model, FlorenzProcessor.for_tokenizers(tok, tok, 64), tmp_path_factory.mktemp("ckpt") / "model")


def test_python_api_captions_real_photos_and_world_images(checkpoint, world, shared_data):
    model = florenz.load(checkpoint, device="cpu")
    photos = sorted((shared_data / "coco-mini" / "images").glob("*.jpg"))
    assert len(photos) == 51
    caps = model.caption(photos, lang="fr", beams=2, max_new_tokens=6)
    assert len(caps) == 51 and all(isinstance(c, str) for c in caps)
    world_images = [decode_image(r) for r, _ in zip(read_records(world, "heldout"), range(4), strict=False)]
    texts, scores = model.caption(world_images, lang="zh", prefix=False, max_new_tokens=5, return_scores=True)
    assert len(texts) == len(scores) == 4
    assert len(model.translate(["a red circle", "a blue square"], lang="de", max_new_tokens=5)) == 2
    assert len(model.translate("a star", images=[photos[0]], lang="ru", max_new_tokens=5)) == 1


def test_unknown_language_lists_known_ones(checkpoint):
    model = florenz.load(checkpoint, device="cpu")
    with pytest.raises(FlorenzError, match="knows: .*fr"):
        model.caption([Image.new("RGB", (64, 64))], lang="xx")


def test_cli_captions_folder_skipping_bad_files(checkpoint, shared_data, tmp_path, capsys):
    folder = tmp_path / "imgs" / "nested"
    folder.mkdir(parents=True)
    for p in sorted((shared_data / "coco-mini" / "images").glob("*.jpg"))[:3]:
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(b"not really a jpeg")
    (folder / "notes.txt").write_text("hello")
    out = tmp_path / "caps.jsonl"
    rc = main(["caption", str(tmp_path / "imgs"), "--checkpoint", str(checkpoint), "--lang", "es",
               "--beams", "2", "--max-new-tokens", "5", "--out", str(out)])
    assert rc == 0
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert len(rows) == 3 and {r["lang"] for r in rows} == {"es"}
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "notes.txt" in err and "skipped 2" in err


def test_cli_errors(checkpoint, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["caption", str(tmp_path / "empty"), "--checkpoint", str(checkpoint)]) == 1
    assert "no image files" in capsys.readouterr().err
    img = tmp_path / "a.png"
    Image.new("RGB", (32, 32), "red").save(img)
    assert main(["caption", str(img), "--checkpoint", str(checkpoint), "--lang", "xx"]) == 1
    assert "knows:" in capsys.readouterr().err
    assert main(["translate", "a red circle", "--checkpoint", str(checkpoint), "--lang", "fr", "--image", str(img),
                 "--beams", "1", "--max-new-tokens", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["lang"] == "fr"
