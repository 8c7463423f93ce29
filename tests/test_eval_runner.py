"""`florenz eval` end to end on a tiny micro world + a random micro model: CE groups, generation with and
without prefix, attribute accuracy, fidelity, outputs beside scores; and Multi30K / CoMMuTE text-only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from florenz.cli import main
from florenz.io import read_json, read_jsonl


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    from florenz.config import Config, save_config
    from florenz.data.tokenizer import load_tokenizer
    from florenz.models.build import build
    from florenz.models.checkpoint import save_model
    from florenz.models.config import ModelConfig
    from florenz.world.build import build_world
    from florenz.world.config import WorldConfig

    root = tmp_path_factory.mktemp("eval")
    wcfg = WorldConfig(languages=["en", "de", "fr"], caption_languages=["en", "de"],
                       translation_languages=["de", "fr"], train_scenes=24, heldout_scenes=8, lm_sentences=4,
                       shard_size=50, vocab_size=400)
    data = build_world(wcfg, root / "data", workers=1)
    tok = load_tokenizer(data)
    mcfg = ModelConfig(preset="micro-bart-xs")
    torch.manual_seed(0)
    model, processor = build(mcfg, tokenizer=tok)
    run = root / "run"
    save_model(model, processor, run / "model")
    cfg = Config()
    cfg.model = mcfg
    save_config(cfg, run / "config.toml")
    (run / "result.json").write_text(json.dumps({"data": str(data)}))
    return run, data


SETS = ["eval.ce_samples_per_class=3", "eval.generation_samples=2", "eval.beams=2", "eval.max_new_tokens=5",
        "eval.batch_size=8"]


def test_eval_micro_run(micro_run, capsys):
    run, _ = micro_run
    args = ["eval", str(run), "--json"]
    for s in SETS:
        args += ["--set", s]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    scores = read_json(run / "scores.json")
    assert printed["summary"] == scores["summary"]
    assert scores["group_classes"] == {"UC": ["caption/fr"], "ST": ["translation/fr"],
                                       "SC": ["caption/de", "caption/en"]}
    assert set(scores["ce"]) >= {"caption/en", "caption/de", "caption/fr", "translation/fr", "translation/de"}
    assert all(0 < v < 20 for v in scores["ce"].values()) and all(n <= 3 for n in scores["ce_counts"].values())
    uc = scores["ce_counts"]["caption/fr"]
    assert scores["groups"]["UC"] == pytest.approx(scores["ce"]["caption/fr"]) and uc > 0
    for mode in ("prefix", "no_prefix"):
        fr = scores["generation"][mode]["fr"]
        assert 0 <= fr["attribute_accuracy"] <= 100 and 0 <= fr["fidelity"] <= 100
        assert "tok:florenz-v1" in fr["cider_signature"] and "tok:13a" in fr["bleu_signature"]
        rows = list(read_jsonl(run / "outputs" / f"generation_{mode}.jsonl"))
        assert {r["lang"] for r in rows} == {"en", "de", "fr"} and all(len(r["refs"]) >= 1 for r in rows)
        for key in ("uc_attribute_accuracy", "uc_fidelity"):
            assert scores["summary"][f"{key}_{mode}"] == pytest.approx(
                scores["generation"][mode]["fr"][key.removeprefix("uc_")])


def test_eval_checkpoint_dir_to_out_with_benchmarks_text_only(micro_run, shared_data, tmp_path):
    run, data = micro_run
    args = ["eval", str(run / "model"), "--data", str(data), "--out", str(tmp_path)]
    for s in [*SETS, "eval.benchmarks=[\"multi30k\",\"commute\"]", f"eval.benchmark_root={shared_data}",
              "eval.text_only=true", "eval.benchmark_samples=6", "eval.multi30k_splits=test_2016_flickr",
              "eval.multi30k_langs=de", "eval.commute_langs=de", "eval.optional_metrics=comet"]:
        args += ["--set", s]
    assert main(args) == 0
    scores = read_json(tmp_path / "scores.json")
    b = scores["benchmarks"]
    m = b["multi30k"]["splits"]["test_2016_flickr/de"]
    assert b["multi30k"]["text_only"] and m["n"] == 6 and "tok:13a" in m["bleu_signature"] and m["ce"] > 0
    assert m["comet"] is None and "comet-score" in m["comet_note"]
    c = b["commute"]["pairs"]["de"]
    assert c["text_only"] and c["items"] == 6
    assert scores["summary"]["commute_accuracy"] == c["accuracy"]
    assert len(list(read_jsonl(tmp_path / "outputs" / "commute_de.jsonl"))) == 6
    assert (tmp_path / "outputs" / "generation_prefix.jsonl").is_file()


def test_eval_missing_images_is_an_error(micro_run, shared_data, tmp_path, capsys):
    run, data = micro_run
    args = ["eval", str(run), "--out", str(tmp_path), "--set", "eval.benchmarks=commute",
            "--set", f"eval.benchmark_root={shared_data}", "--set", "eval.commute_langs=de", *sum(
                (["--set", s] for s in SETS), [])]
    assert main(args) == 1
    assert "300 images missing" in capsys.readouterr().err


def test_eval_metrics_see_the_generated_text(micro_run, tmp_path, monkeypatch):
    """With 'generations' equal to the held-out references, the micro metrics must be high (plumbing check:
    texts are scored against their own scene and language), and the prefix is stripped."""
    from florenz.evaluate import runner
    from florenz.prompts import decoder_prefix

    def echo(model, processor, samples, with_prefix, *a, **k):
        return [{"raw": s.tgt, "text": s.tgt} for s in samples]

    monkeypatch.setattr(runner, "generate_texts", echo)
    run, _ = micro_run
    scores = runner.run_eval(run, out=tmp_path, overrides=SETS)
    fr = scores["generation"]["prefix"]["fr"]
    assert fr["fidelity"] == 100.0 and fr["attribute_accuracy"] > 80 and fr["chrf"] > 50
    assert scores["summary"]["uc_fidelity_no_prefix"] == 100.0
    assert not any(r["text"].startswith(decoder_prefix("fr")) for r in read_jsonl(tmp_path / "outputs" /
                                                                                  "generation_prefix.jsonl"))


def test_eval_xm3600_and_coco_fixtures_text_only(micro_run, tmp_path):
    from florenz.evaluate import runner
    from tests.test_benchmarks import _xm_fixture

    bench = tmp_path / "bench"
    (bench / "xm3600").mkdir(parents=True)
    _xm_fixture(bench / "xm3600", ["000411001ff7dd4f", "0004886b7d043cfd", "0035b9006c333719"])
    (bench / "coco").mkdir()
    images = [{"filepath": "val2014", "filename": f"COCO_val2014_{i:012d}.jpg", "imgid": i, "cocoid": i,
               "split": "test", "sentids": [i], "sentences": [{"raw": f"a photo number {i}", "tokens": [],
                                                               "imgid": i, "sentid": i}]} for i in range(3)]
    (bench / "coco" / "dataset_coco.json").write_text(json.dumps({"dataset": "coco", "images": images}))
    run, _ = micro_run
    scores = runner.run_eval(run, out=tmp_path / "out", overrides=[
        *SETS, "eval.ce_samples_per_class=1", "eval.generation_samples=1", f"eval.benchmark_root={bench}",
        "eval.benchmarks=xm3600,coco", "eval.text_only=true", "eval.xm3600_langs=fr,es,ru,zh"])
    xm = scores["benchmarks"]["xm3600"]
    assert xm["text_only"] and set(xm["prefix"]) == {"fr", "es", "ru", "zh"}
    assert xm["prefix"]["zh"]["cider_signature"].startswith("nrefs:2|tok:florenz-v1(nfkc,lower,nopunct,char)")
    assert scores["summary"]["xm3600_unseen_cider_prefix"] == pytest.approx(
        np.mean([xm["prefix"][lg]["cider"] for lg in ("fr", "es", "ru", "zh")]))
    assert "coco_cider_prefix" in scores["summary"]
    assert len(list(read_jsonl(tmp_path / "out" / "outputs" / "xm3600_no_prefix_ru.jsonl"))) == 3


def test_shuffled_control_swaps_every_image_and_keeps_the_rest():
    from PIL import Image

    from florenz.evaluate.loss import EvalSample
    from florenz.evaluate.runner import shuffled_images

    items = [EvalSample("caption", "fr", f"t{i}", "", "short", Image.new("RGB", (4, 4), (i, 0, 0)),
                        {"id": i, "scene": {"n": i}}) for i in range(7)]
    shown = shuffled_images(items, seed=3)
    assert [s.meta for s in shown] == [s.meta for s in items]  # scored against the original scenes
    reds = [s.image.getpixel((0, 0))[0] for s in shown]
    assert sorted(reds) == list(range(7)) and all(r != i for i, r in enumerate(reds))  # a derangement
    assert shuffled_images(items[:1])[0].image is items[0].image


def test_eval_records_the_shuffled_control(micro_run):
    from florenz.evaluate.runner import run_eval

    run, _ = micro_run
    scores = run_eval(run, overrides=SETS)
    for mode in ("prefix_shuffled", "no_prefix_shuffled"):
        assert set(scores["generation"][mode]) == {"en", "de", "fr"}
        assert (run / "outputs" / f"generation_{mode}.jsonl").is_file()
        for group, lang in (("uc", "fr"),):
            key = f"{group}_attribute_accuracy_{mode}"
            assert scores["summary"][key] == pytest.approx(scores["generation"][mode][lang]["attribute_accuracy"])
    assert "sc_attribute_accuracy_prefix_shuffled" in scores["summary"]
    off = run_eval(run, overrides=[*SETS, "eval.shuffled_control=false"])
    assert "prefix_shuffled" not in off["generation"]
