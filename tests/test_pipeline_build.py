"""End to end: the real data pipeline on the 51 COCO photos + Multi30K bitext with tiny random backends."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from florenz.data.pipeline.backends import HFDescriber, HFTranslator, load_embedder
from florenz.data.pipeline.build import DELAY_ENV, Backends, BuildSettings, run_build
from florenz.data.pipeline.samples import annotation_samples
from florenz.data.pipeline.tiny import build_tiny_clip, build_tiny_describer, build_tiny_translator
from florenz.data.shards import read_records, read_stats
from florenz.errors import FlorenzError

GEN = {"describe_tokens": 10, "translate_tokens": 8, "beams": 2}


pytestmark = pytest.mark.usefixtures("one_thread")


def _lines(path: Path, n: int) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [next(f).strip() for _ in range(n)]


@pytest.fixture(scope="module")
def env(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipe")
    raw = shared_data / "multi30k" / "task1" / "raw"
    en = _lines(raw / "val.en.gz", 120)
    texts = en + _lines(raw / "val.de.gz", 120)
    models = {
        "describer": build_tiny_describer(root / "describer", texts),
        "translator": build_tiny_translator(root / "translator", texts, ["en", "de", "fr", "cs"]),
        "embedder": build_tiny_clip(root / "clip", texts),
    }
    images = root / "images"
    images.mkdir()
    for p in sorted((shared_data / "coco-mini" / "images").glob("*.jpg")):
        shutil.copy(p, images / p.name)
    (images / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    bitext = {}
    for lang in ("fr", "cs"):
        tgt = _lines(raw / f"val.{lang}.gz", 120)
        rows = [f"{a}\t{b}" for a, b in zip(en, tgt, strict=True)]
        rows[3] = f"\t{tgt[3]}"  # empty English side
        rows[7] = f"{en[7]} {'very long ' * 60}\t{tgt[7]}"  # over-long
        bitext[lang] = root / f"m30k.en-{lang}.tsv"
        bitext[lang].write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {"root": root, "models": models, "images": images, "bitext": bitext}


def _settings(env, **kw) -> BuildSettings:
    return BuildSettings(images=str(env["images"]), bitext={k: str(v) for k, v in env["bitext"].items()},
                         top_n=3, chunk_size=12, batch_size=12, **kw)


def _loader(env):
    m = env["models"]
    return lambda: Backends(HFDescriber(m["describer"], max_new_tokens=10, num_beams=2),
                            HFTranslator(m["translator"], max_new_tokens=8, num_beams=2),
                            load_embedder(str(m["embedder"])))


def _metas(out: Path, split: str) -> list[dict]:
    return [r.meta for r in read_records(out, split)]


@pytest.fixture(scope="module")
def built(env):
    out = env["root"] / "full"
    result = run_build(out, _settings(env), _loader(env))
    return out, result


def test_structure_and_counts(built, env):
    out, result = built
    stats = read_stats(out)
    train, heldout = _metas(out, "train"), _metas(out, "heldout")
    assert len(heldout) == 12 and len(train) + len(heldout) + stats["skipped"].get("empty_description", 0) == 51
    assert sorted(p.name for p in out.glob("*.tar"))[0] == "heldout-000000.tar"
    assert stats["skipped"]["corrupt_image"] == 1
    assert stats["skipped"]["bitext_empty"] == 2 and stats["skipped"]["bitext_too_long"] == 2
    assert stats["bitext_pairs"] == {"cs": 118, "fr": 118}
    for split, metas in (("train", train), ("heldout", heldout)):
        recount = Counter(f"{s['task']}/{s['lang']}" for m in metas for s in m["samples"])
        assert stats["splits"][split] == dict(recount)
    assert stats["counts"] == stats["splits"]["train"]
    caption_langs = {k.split("/")[1] for k in stats["counts"] if k.startswith("caption/")}
    assert caption_langs == {"en", "de"}  # captions only for the caption languages
    assert {k for k in stats["counts"] if k.startswith("translation/")} == {
        "translation/de", "translation/fr", "translation/cs"}
    stems = {p.stem for p in env["images"].glob("*.jpg")} - {"zz_broken"}
    assert {m["id"] for m in train + heldout} <= stems


def test_samples_follow_annotations(built):
    out, _ = built
    for m in _metas(out, "train"):
        assert set(m) >= {"id", "samples", "description", "matches", "alt_text"}
        for s in m["samples"]:
            assert set(s) == {"task", "lang", "style", "src", "tgt"} and s["tgt"].strip()
            if s["task"] == "caption":
                assert s["src"] == "" and not s["tgt"].startswith(("The image shows", "Das Bild zeigt"))
        assert m["samples"] == annotation_samples(m, ["en", "de"], seed=0)
        assert len(m["description"]["de"]) == len(m["description"]["en"])  # sentence-aligned translation
        assert [s["style"] for s in m["samples"] if s["task"] == "caption" and s["lang"] == "en"][0] == "short"
        for lang in ("fr", "cs"):
            assert len(m["matches"][lang]) == 3
            assert sum(s["lang"] == lang and s["style"] == "short" for s in m["samples"]) == 3
            assert sum(s["lang"] == lang and s["style"] == "paragraph" for s in m["samples"]) == 1


def test_matches_are_true_nearest_neighbours(built, env):
    """Recompute cosine top-3 by brute force with the same embedder and compare with the shards."""
    out, _ = built
    from PIL import Image

    emb = load_embedder(str(env["models"]["embedder"]))
    metas = _metas(out, "heldout")
    rows = [json.loads(line) for line in (out / "work" / "bitext-fr.jsonl").read_text().splitlines()]
    assert all(r["en"] and len(r["en"]) <= 400 for r in rows)
    text_emb = emb.embed_texts([r["en"] for r in rows])
    img_emb = emb.embed_images([Image.open(env["images"] / f"{m['id']}.jpg").convert("RGB") for m in metas])
    sims = img_emb @ text_emb.T
    for m, s in zip(metas, sims, strict=True):
        got = [x["row"] for x in m["matches"]["fr"]]
        order = torch.argsort(-s, stable=True)[:3]  # ties (tiny CLIP has many) go to the earlier pair
        want = [rows[i]["row"] for i in order.tolist()]
        assert got == want
        scores = [x["score"] for x in m["matches"]["fr"]]
        assert scores == sorted(scores, reverse=True)
        assert np.allclose(scores, torch.topk(s, 3).values.numpy(), atol=1e-4)


def test_deterministic(built, env):
    out, _ = built
    again = env["root"] / "again"
    run_build(again, _settings(env), _loader(env))
    assert _metas(again, "train") == _metas(out, "train")
    assert _metas(again, "heldout") == _metas(out, "heldout")
    assert read_stats(again)["splits"] == read_stats(out)["splits"]


def test_rerun_skips_everything_and_settings_are_guarded(built, env):
    out, _ = built
    calls = []
    result = run_build(out, _settings(env), lambda: calls.append(1))
    assert calls == [] and result["chunks_processed"] == [] and len(result["chunks_resumed"]) == 5
    with pytest.raises(FlorenzError, match="top_n"):
        run_build(out, BuildSettings(**{**_settings(env).__dict__, "top_n": 5}), _loader(env))


def test_resume_after_kill(built, env):
    """SIGKILL the CLI after its first chunk is committed; the rerun finishes without redoing it."""
    out, _ = built
    target = env["root"] / "killed"
    m = env["models"]
    cmd = [sys.executable, "-m", "florenz.cli", "data", "build", "--images", str(env["images"]),
           "--bitext", f"fr={env['bitext']['fr']}", "--bitext", f"cs={env['bitext']['cs']}",
           "--describer", str(m["describer"]), "--translator", str(m["translator"]), "--embedder", str(m["embedder"]),
           "--out", str(target), "--top-n", "3", "--chunk-size", "12", "--batch-size", "12",
           "--describe-tokens", "10", "--translate-tokens", "8", "--beams", "2", "--json"]
    envvars = {**os.environ, DELAY_ENV: "30", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=envvars, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    marker = target / "work" / "chunk-000000.done.json"
    deadline = time.time() + 90
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert marker.exists(), proc.stderr.read().decode() if proc.poll() is not None else "no chunk within 90 s"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (target / "work" / "chunk-000001.done.json").exists()
    first_shard = target / "heldout-000000.tar"
    before = (marker.stat().st_mtime_ns, first_shard.stat().st_mtime_ns)
    envvars.pop(DELAY_ENV)
    done = subprocess.run(cmd, env=envvars, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["chunks_resumed"] == [0] and result["chunks_processed"] == [1, 2, 3, 4]
    assert (marker.stat().st_mtime_ns, first_shard.stat().st_mtime_ns) == before
    assert _metas(target, "train") == _metas(out, "train")
    assert _metas(target, "heldout") == _metas(out, "heldout")
    assert read_stats(target)["splits"] == read_stats(out)["splits"]
    assert not list(target.glob("*.partial"))
