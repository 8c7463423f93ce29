"""sacrebleu metrics with signatures, language fidelity, and the `florenz score` command."""

from __future__ import annotations

import json

import pytest
import sacrebleu

from florenz.cli import main
from florenz.errors import FlorenzError
from florenz.evaluate.metrics.fidelity import fidelity
from florenz.evaluate.metrics.text import score_texts
from florenz.evaluate.score import score_files


def test_bleu_uses_language_tokenizer_and_signature():
    hyp, ref = ["我们今天去公园玩"], [["我们今天去公园"]]
    zh = score_texts("bleu", hyp, ref, "zh")
    assert "tok:zh" in zh.signature and f"version:{sacrebleu.__version__}" in zh.signature
    assert zh.score == pytest.approx(sacrebleu.corpus_bleu(hyp, [["我们今天去公园"]], tokenize="zh").score)
    de = score_texts("bleu", ["Ein Hund läuft."], [["Ein Hund rennt."]], "de")
    assert "tok:13a" in de.signature
    chrf = score_texts("chrf", ["Ein Hund läuft."], [["Ein Hund rennt.", "Der Hund läuft."]], "de")
    assert chrf.signature.startswith("nrefs:2|") and 0 < chrf.score < 100


def test_variable_reference_counts_are_padded():
    res = score_texts("bleu", ["a cat is on the mat", "a dog"], [["a cat is on the mat"], ["a dog", "one dog"]])
    assert res.score == pytest.approx(100.0)


def test_fidelity_counts_target_language_and_maps_codes():
    score, sig = fidelity(["Le chat noir est assis sur la table.", "The black cat sits on the table."], "fr")
    assert score == 50.0 and "py3langid" in sig
    tl, sig = fidelity(["Ang mga bata ay naglalaro sa labas ng bahay kasama ang kanilang aso."], "fil")
    assert "accept:tl" in sig and tl == 100.0
    assert fidelity(["anything"], "mi")[0] in (None, 0.0, 100.0)  # never an exception


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_score_command_json_and_signature(tmp_path, capsys):
    _write(tmp_path / "h.jsonl", [{"id": 1, "text": "a red ball"}, {"id": 2, "text": "two cars"}])
    _write(tmp_path / "r.jsonl", [{"id": 2, "refs": ["two blue cars", "cars"]},
                                  {"id": 1, "refs": ["a red ball", "ball"]}])
    for metric in ("cider", "bleu4", "bleu", "chrf"):
        assert main(["score", "--metric", metric, "--hyps", str(tmp_path / "h.jsonl"),
                     "--refs", str(tmp_path / "r.jsonl"), "--lang", "en", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert set(out) >= {"score", "signature"} and out["signature"].startswith("nrefs:2|")
        direct = score_files(metric, tmp_path / "h.jsonl", tmp_path / "r.jsonl", "en")
        assert out["score"] == pytest.approx(direct.score)
    assert main(["score", "--metric", "cider", "--hyps", str(tmp_path / "h.jsonl"),
                 "--refs", str(tmp_path / "r.jsonl")]) == 0
    assert "tok:florenz-v1" in capsys.readouterr().out


def test_score_mismatched_ids_is_an_error_naming_them(tmp_path, capsys):
    _write(tmp_path / "h.jsonl", [{"id": "a", "text": "x"}, {"id": "extra", "text": "y"}])
    _write(tmp_path / "r.jsonl", [{"id": "a", "refs": ["x"]}, {"id": "lonely", "refs": ["z"]}])
    with pytest.raises(FlorenzError, match="'extra'.*'lonely'"):
        score_files("bleu", tmp_path / "h.jsonl", tmp_path / "r.jsonl")
    assert main(["score", "--metric", "bleu", "--hyps", str(tmp_path / "h.jsonl"),
                 "--refs", str(tmp_path / "r.jsonl")]) == 1
    assert "extra" in capsys.readouterr().err
    with pytest.raises(FlorenzError, match="unknown metric"):
        score_texts("meteor", ["a"], [["a"]])


def test_normalize_many_equals_normalize_each():
    """The batched normaliser behind `florenz score`'s speed gives exactly the per-text result."""
    import random

    from florenz.evaluate.metrics.tokenize import normalize, normalize_many

    chars = "abcΣσ ,.!?;:'\"-_()ÄÖÜß中文。，「」ﬁ①Ⅻ İ\u0301\u00a0\t\n\x00"
    rng = random.Random(0)
    for _ in range(500):
        texts = ["".join(rng.choice(chars) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(0, 5))]
        assert normalize_many(texts) == [normalize(t) for t in texts], texts
