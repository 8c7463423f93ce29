"""The paper-scale path end to end, through the CLI, as a user with downloaded checkpoints runs it.

Tiny Florence-2 / Gemma-2 checkpoints in transformers' format (tests/real_checkpoints.py) stand in for the
hub downloads; the commands are those of the README's "Reproduce the paper with real checkpoints", with
the named configs and only sizes overridden: `florenz data build` (tiny backends) -> `florenz train
paper_pretrain` -> `florenz eval` (CE groups, generation, Multi30K + CoMMuTE text-only) ->
`florenz train paper_finetune` with `train.init_from` -> `florenz caption` / `florenz translate`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from florenz.cli import main
from tests.real_checkpoints import BART_VOCAB, GEMMA_VOCAB

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

KINDS = {  # decoder kind -> (preset, Florence-2 repo, Gemma-2 repo)
    "bart": ("F-0.4B", "florence-community/Florence-2-base", "google/gemma-2-2b"),
    "gemma": ("F-3.5B", "florence-community/Florence-2-large", "google/gemma-2-2b"),
}
SIZES = ["model.image_size=64", "train.samples=48", "train.batch_size=8", "train.micro_batch_size=8",
         "train.warmup_steps=1", "train.log_every=1", "train.threads=1"]
EVAL_SIZES = ["eval.ce_samples_per_class=4", "eval.generation_samples=3", "eval.beams=2", "eval.max_new_tokens=6",
              "eval.batch_size=8", 'eval.benchmarks=["multi30k", "commute"]', "eval.text_only=true",
              "eval.benchmark_samples=3", 'eval.multi30k_splits=["test_2016_flickr"]',
              'eval.multi30k_langs=["de", "fr"]', 'eval.commute_langs=["de", "fr"]']




def _sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def _florenz(*args: str) -> None:
    assert main([str(a) for a in args]) == 0, " ".join(map(str, args))


@pytest.fixture(scope="module")
def data_dir(shared_data, tmp_path_factory) -> Path:
    """`florenz data build` on the 51 COCO photos + Multi30K en-fr bitext with the tiny backends."""
    from florenz.data.pipeline.tiny import build_tiny_clip, build_tiny_describer, build_tiny_translator

    root = tmp_path_factory.mktemp("realdata")
    raw = shared_data / "multi30k" / "task1" / "raw"

    def lines(lang: str) -> list[str]:
        with gzip.open(raw / f"val.{lang}.gz", "rt", encoding="utf-8") as f:
            return [next(f).strip() for _ in range(120)]

    en, de, fr = lines("en"), lines("de"), lines("fr")
    (root / "m30k.en-fr.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in zip(en, fr, strict=True)), "utf-8")
    describer = build_tiny_describer(root / "describer", en + de)
    translator = build_tiny_translator(root / "translator", en + de + fr, ["en", "de", "fr"])
    clip = build_tiny_clip(root / "clip", en)
    _florenz("data", "build", "--images", shared_data / "coco-mini" / "images", "--bitext",
             f"fr={root / 'm30k.en-fr.tsv'}", "--describer", describer, "--translator", translator, "--embedder", clip,
             "--out", root / "data", "--chunk-size", 12, "--batch-size", 12, "--describe-tokens", 8,
             "--translate-tokens", 8, "--beams", 1, "--top-n", 2)
    return root / "data"


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kind", list(KINDS))
def test_paper_path_end_to_end(kind, data_dir, real_checkpoints, shared_data, tmp_path, capsys):
    preset, florence_repo, gemma_repo = KINDS[kind]
    florence, gemma = real_checkpoints(florence_repo), real_checkpoints(gemma_repo)
    if kind == "bart":  # the two checkpoint paths, nothing else about tokenizers
        model_sets = [f"model.preset={preset}", f"model.florence_path={florence}", f"model.gemma_path={gemma}"]
    else:  # the hub folder, as the README's sweep uses it
        model_sets = [f"model.preset={preset}", f"model.hub_dir={real_checkpoints.root}"]
    pt, ft = tmp_path / "pretrain", tmp_path / "finetune"

    _florenz("train", "paper_pretrain", "--out", pt,
             *_sets([*model_sets, f"data.path={data_dir}", *SIZES]))
    losses = _losses(pt)
    assert len(losses) == 6 and min(losses[1:]) < losses[0], losses
    result = json.loads((pt / "result.json").read_text())
    assert result["decoder_kind"] == kind and result["preset"] == preset

    _florenz("eval", pt, *_sets([*EVAL_SIZES, f"eval.benchmark_root={shared_data}"]))
    scores = json.loads((pt / "scores.json").read_text())
    assert set(scores["groups"]) >= {"SC", "ST"} and scores["ce"]["caption/de"] > 0
    assert set(scores["generation"]["prefix"]) == {"en", "de"}
    assert set(scores["benchmarks"]) >= {"multi30k", "commute"}

    _florenz("train", "paper_finetune", "--out", ft,
             *_sets([*model_sets, f"data.path={data_dir}", f"train.init_from={pt}", *SIZES]))
    # same seed and data, so the same first batch: lower after pre-training (the loss fell, and fine-tuning
    # started where pre-training ended, not from the downloaded checkpoints)
    assert _losses(ft)[0] < losses[0] - 1e-3, (_losses(ft), losses)

    import florenz.inference.api as api
    from florenz.data.shards import read_records

    loaded = api.load(ft, device="cpu")  # the fine-tuned model reloads with one call
    model, proc = loaded.model, loaded.processor
    assert (model.config.encoder_vocab_size, model.config.decoder_vocab_size) == (BART_VOCAB, GEMMA_VOCAB)
    bart_tok, gemma_tok = real_checkpoints.tokenizers()
    assert proc.encoder_tokenizer.get_vocab() == bart_tok.get_vocab()
    assert proc.decoder_tokenizer.get_vocab() == gemma_tok.get_vocab()
    samples = [s for rec in read_records(data_dir, "heldout") for s in rec.samples]
    ids = proc.prompts(samples)["input_ids"]
    assert int(ids.min()) >= 0 and int(ids.max()) < BART_VOCAB  # encoder ids stay in the encoder vocabulary

    image = next((shared_data / "coco-mini" / "images").glob("*.jpg"))
    capsys.readouterr()
    _florenz("caption", image, "--checkpoint", ft, "--lang", "de", "--beams", 2, "--max-new-tokens", 6,
             "--device", "cpu")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["text"] == loaded.caption([image], lang="de", beams=2, max_new_tokens=6)[0]
    _florenz("translate", "A dog runs on the beach.", "--checkpoint", ft, "--lang", "fr", "--beams", 2,
             "--max-new-tokens", 6, "--device", "cpu", "--json")
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["lang"] == "fr" and isinstance(out["text"], str)
    for text in (line["text"], out["text"]):  # decoded by the Gemma tokenizer: no BART byte-level marks
        assert "Ġ" not in text and "<pad>" not in text and "<eos>" not in text


def test_paper_pretrain_under_torchrun_matches_one_process(data_dir, real_checkpoints, tmp_path):
    """The README's torchrun line at tiny size: 2 gloo processes, FSDP2, the Gemma kind, same losses as one."""
    import os
    import subprocess
    import sys

    from tests.test_train import free_port

    real_checkpoints("florence-community/Florence-2-large"), real_checkpoints("google/gemma-2-2b")
    sets = _sets(["model.preset=F-3.5B", f"model.hub_dir={real_checkpoints.root}", f"data.path={data_dir}",
                  *SIZES, "train.micro_batch_size=4", "train.distributed=fsdp"])
    _florenz("train", "paper_pretrain", "--out", tmp_path / "one", *sets)
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", free_port(), "-m",
           "florenz.cli", "train", "paper_pretrain", "--out", str(tmp_path / "two"), *sets]
    proc = subprocess.run(cmd, cwd=root, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert two["world_size"] == 2 and two["distributed"] == "fsdp"
    assert _losses(tmp_path / "two") == pytest.approx(_losses(tmp_path / "one"), abs=1e-4)
    import florenz.inference.api as api

    assert api.load(tmp_path / "two", device="cpu").model.config.decoder_vocab_size == GEMMA_VOCAB


def test_paper_budget_sweep(data_dir, real_checkpoints, shared_data, tmp_path):
    """The README's sweep line at tiny size (local executor; on a cluster sweep.executor=slurm runs the same
    points as submitit jobs): two sizes x two budgets, each trained and evaluated."""
    for repo in ("florence-community/Florence-2-base", "florence-community/Florence-2-large", "google/gemma-2-2b"):
        real_checkpoints(repo)
    _florenz("sweep", "paper_sweep", "--out", tmp_path / "sweep",
             *_sets([f"model.hub_dir={real_checkpoints.root}", f"data.path={data_dir}", "sweep.executor=local",
                     'sweep.presets=["F-0.4B", "F-3.5B"]', "sweep.samples=[16, 24]",
                     *[s for s in SIZES if not s.startswith("train.samples")],
                     *[s for s in EVAL_SIZES if not s.startswith("eval.benchmark")]]))
    runs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if (p / "scores.json").is_file())
    assert runs == ["F-0.4B__S16__T6__seed0", "F-0.4B__S24__T6__seed0", "F-3.5B__S16__T6__seed0",
                    "F-3.5B__S24__T6__seed0"]
    for name in runs:
        result = json.loads((tmp_path / "sweep" / name / "result.json").read_text())
        assert result["preset"] == name.split("__")[0] and result["samples"] == int(name.split("__")[1][1:])
