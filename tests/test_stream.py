"""Streamed training data (data/stream.py, train/stream_source.py): shard split by rank and worker, the per-image
annotation choice toward the target mix, reproducibility with workers, resume without losing records, unusable
data counted, and a training run from streamed shards."""

from __future__ import annotations

import importlib.util
import json
import math
import random
from pathlib import Path

import pytest
import torch

from florenz.data.config import DataConfig
from florenz.data.shards import Sample, shard_paths
from florenz.data.stream import ShardStream, StreamSpec, choose_annotation, slot_shards
from florenz.errors import FlorenzError

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("stream_throughput", ROOT / "benchmarks" / "stream_throughput.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """36 records in 6 shards, 32 px JPEGs, 3-5 annotations over the 7 classes."""
    return _bench().write_synthetic(tmp_path_factory.mktemp("stream") / "data", 36, 6, image_size=32)


@pytest.fixture(scope="module")
def processor(tiny_world):
    from florenz.data.tokenizer import load_tokenizer
    from florenz.models.processor import FlorenzProcessor

    tok = load_tokenizer(tiny_world)
    return FlorenzProcessor.for_tokenizers(tok, tok, 32)


def source(data: Path, processor, **kw):
    from florenz.train.stream_source import ShardRecords, StreamSource

    args = {"workers": 0, "shuffle_buffer": 8, **{k: v for k, v in kw.items() if k in ("workers", "shuffle_buffer")}}
    dcfg = DataConfig(path=str(data), loader="stream", max_source_tokens=16, max_target_tokens=16, **args)
    return StreamSource(ShardRecords(data, processor), dcfg, kw.get("seed", 0), kw.get("micro", 4),
                        kw.get("rank", 0), kw.get("world", 1))


def test_shards_split_by_rank_and_worker():
    paths = [Path(f"train-{i:06d}.tar") for i in range(10)]
    parts = [slot_shards(paths, s, 4) for s in range(4)]
    assert all(stride is None for _, stride in parts)
    got = [p for part, _ in parts for p in part]
    assert sorted(got) == paths and len(got) == len(set(got))  # disjoint, none skipped
    few = [slot_shards(paths[:2], s, 4) for s in range(4)]  # fewer shards than slots: split by record
    assert [stride for _, stride in few] == [0, 1, 2, 3] and all(part == paths[:2] for part, _ in few)


def test_annotation_choice_goes_to_the_class_behind_its_target():
    cap_en, tr_fr = Sample("caption", "en", "x").klass, Sample("translation", "fr", "y", src="z").klass
    target = {"caption/en": 0.5, "translation/fr": 0.5}
    rng = random.Random(0)
    assert choose_annotation([cap_en, tr_fr], {"caption/en": 3, "translation/fr": 1}, target, rng) == 1
    assert choose_annotation([cap_en, tr_fr], {"caption/en": 1, "translation/fr": 3}, target, rng) == 0
    assert choose_annotation([cap_en], {"caption/en": 9}, target, rng) == 0  # the only one offered
    assert choose_annotation([tr_fr], {}, {"caption/en": 1.0}, rng) is None  # class with no target share
    # two annotations of one class (two captions): either, by index - equal samples are not confused
    assert {choose_annotation([cap_en, cap_en], {}, target, random.Random(s)) for s in range(20)} == {0, 1}


def _keys(src, steps: int) -> list[list]:
    return [b["input_ids"].tolist() + b["labels"].tolist() for _ in range(steps) for b in src.step_batches(8, 4)]


def test_stream_reproducible_with_workers_and_mix_follows_target(synthetic, processor):
    a, b = source(synthetic, processor, workers=2), source(synthetic, processor, workers=2)
    first = _keys(a, 3)
    assert first == _keys(b, 3)
    assert first != _keys(source(synthetic, processor, workers=2, seed=1), 3)
    batch = a.step_batches(8, 4)[0]
    assert batch["pixel_values"].shape == (4, 3, 32, 32) and batch["labels"].shape[0] == 4
    for _ in range(60):  # ~ 1,000 samples: the emitted mix is near uniform over the 7 classes
        a.step_batches(8, 4)
    total = sum(a.emitted.values())
    assert set(a.emitted) == set(a.classes) and len(a.classes) == 7
    assert max(abs(n / total - 1 / 7) for n in a.emitted.values()) < 0.04
    # the raw annotation counts are not uniform, so the choice did the balancing
    raw = json.loads((synthetic / "stats.json").read_text())["splits"]["train"]
    assert max(raw.values()) / min(raw.values()) > 1.3


def test_resume_loses_no_record(synthetic, processor):
    """Buffer 1 and micro batch 1 make every record visible: a stream resumed from its state restarts at the shard
    in progress, so what the first stream emitted plus the resumed stream's first epoch covers every record."""
    def ids(batch) -> tuple:
        return tuple(batch["labels"][0].tolist())

    every = {ids(b) for b in [x for _ in range(36) for x in source(synthetic, processor, shuffle_buffer=1, micro=1)
                              .step_batches(1, 1)]}
    a = source(synthetic, processor, shuffle_buffer=1, micro=1)
    seen = {ids(b) for _ in range(15) for b in a.step_batches(1, 1)}
    state = a.state_dict()
    assert state["ranks"][0]["slots"]["0"]["shard"] == 2  # 15 records of 6-record shards: the third in progress
    b = source(synthetic, processor, shuffle_buffer=1, micro=1)
    b.load_state_dict(json.loads(json.dumps(state)))  # as stored
    after = [ids(x) for _ in range(36 - 12) for x in b.step_batches(1, 1)]
    assert seen | set(after) >= every
    with pytest.raises(FlorenzError, match="stream was for 1 ranks"):
        source(synthetic, processor, rank=0, world=2).load_state_dict(state)


def test_unusable_streamed_data_is_counted(tmp_path, processor):
    from florenz.data.shards import Record, ShardWriter, write_stats

    data = _bench().write_synthetic(tmp_path / "d", 12, 6, image_size=32)
    good = next(iter(sorted(data.glob("train-*.tar"))))
    with ShardWriter(data, "train", shard_size=6, start_index=2) as w:
        w.write(Record("bad1", b"not an image", "jpg", {"samples": [{"task": "caption", "lang": "en", "tgt": "x"}]}))
        w.write(Record("bad2", good.read_bytes()[:600], "jpg", {"samples": [{"task": "caption", "lang": "en",
                                                                              "tgt": ""}]}))
    stats = json.loads((data / "stats.json").read_text())
    write_stats(data, {"train": stats["splits"]["train"]})
    src = source(data, processor, shuffle_buffer=2)
    src.dcfg.max_skipped_share = 0.5
    for _ in range(10):
        src.step_batches(8, 4)
    assert src.skips.counts.get("bad_image", 0) >= 1 and src.skips.counts.get("empty_target", 0) >= 1
    assert src.skips.summary()["samples_unusable"] > 0
    too_strict = source(data, processor, shuffle_buffer=2)
    too_strict.dcfg.max_skipped_share = 0.0
    with pytest.raises(FlorenzError, match="too much unusable training data"):
        for _ in range(60):
            too_strict.step_batches(8, 4)


def test_training_from_streamed_shards(tiny_world, tmp_path):
    from florenz.config import load_config
    from florenz.train import checkpoint as ckpt
    from florenz.train.loop import train_run
    from tests.test_train import overrides

    sets = overrides(tiny_world, **{"train.samples": 32, "data.loader": "stream", "data.workers": 1,
                                    "data.shuffle_buffer": 16, "train.checkpoint_every": 4})
    res = train_run(load_config("micro", sets), tmp_path / "run")
    assert torch.isfinite(torch.tensor(res["final_loss"])) and res["data_skipped"]["samples_used"] > 0
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "run"))["source"]
    assert state["name"] == "stream" and sum(state["ranks"][0]["emitted"].values()) == 32
    assert len(shard_paths(tiny_world, "train")) == 2


def test_uint8_pixel_values_are_the_same_bits(processor):
    """The stream hands the processor one uint8 array; its vectorised path equals the per-image PIL path."""
    import numpy as np
    from PIL import Image

    arr = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    fast = processor.pixel_values(arr)
    slow = processor.pixel_values([Image.fromarray(a) for a in arr])
    assert torch.equal(fast, slow)


def test_two_process_stream_run_resumes(tiny_world, tmp_path):
    """torchrun, 2 gloo processes (DDP) reading streamed shards: each rank its own shard; the checkpoint keeps both
    ranks' stream states, and a resume from it runs to the end."""
    import os
    import shutil
    import subprocess
    import sys

    from florenz.train import checkpoint as ckpt
    from tests.test_train import free_port, overrides

    sets = overrides(tiny_world, **{"train.samples": 32, "train.distributed": "ddp", "train.checkpoint_every": 5,
                                    "train.keep_checkpoints": 3, "data.loader": "stream", "data.workers": 1,
                                    "data.shuffle_buffer": 8})
    port = free_port()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", port, "-m",
           "florenz.cli", "train", "micro", "--out", str(tmp_path / "run"), *[a for s in sets for a in ("--set", s)]]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = json.loads((tmp_path / "run" / "result.json").read_text())
    source = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "run"))["source"]
    assert [sum(r["emitted"].values()) for r in source["ranks"]] == [16, 16]  # 4 VL steps x 4 samples per rank
    shutil.rmtree(ckpt.latest_checkpoint(tmp_path / "run"))
    (tmp_path / "run" / "result.json").unlink()
    cmd[cmd.index(port)] = free_port()
    proc = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads((tmp_path / "run" / "result.json").read_text())
    assert again["samples"] == first["samples"] and math.isfinite(again["final_loss"])


def test_stream_and_memory_paths_give_the_same_batches_and_loss(tiny_world):
    """On the same samples, the streamed batch and the in-memory tables' batch are the same tensors, so the model's
    loss is the same: the two loaders differ only in which samples they draw, not in what a sample becomes."""
    import numpy as np

    from florenz.config import load_config
    from florenz.data.dataset import load_split
    from florenz.data.tokenizer import load_tokenizer
    from florenz.train import setup
    from florenz.train.stream_source import model_batch
    from florenz.train.vl import MemoryRecords, build_tables

    cfg = load_config("micro", [f"data.path={tiny_world}", "model.preset=micro-gemma-xs"])
    model, proc = setup.build(cfg, load_tokenizer(tiny_world), torch.device("cpu"))
    data = load_split(tiny_world, "train")
    d = cfg.data
    tables = build_tables(data, proc.encoder_tokenizer, proc.decoder_tokenizer, d.max_source_tokens,
                          d.max_target_tokens)
    memory = MemoryRecords(tables, data.images.dense, proc)
    first_row, row_of = 0, {}
    for r, key in enumerate(data.images.keys):  # rows: records in order, each record's usable samples in order
        n = int((data.samples.image == r).sum())
        row_of.update({f"{key}#{i}": first_row + i for i in range(n)})
        first_row += n
    spec = StreamSpec(tiny_world, "train", {c: 1 / len(memory.classes) for c in memory.classes}, 4,
                      buffer=8, max_source_tokens=d.max_source_tokens, max_target_tokens=d.max_target_tokens)
    model.eval()
    for item, _ in zip(ShardStream(spec, proc), range(3), strict=False):
        assert item["batch"]["pixels"].dtype == torch.uint8  # through the DataLoader as uint8, normalised after
        batch = model_batch(proc, item["batch"])
        mem = memory.collate(spec, np.array([row_of[k] for k in item["keys"]]))
        assert mem.keys() == batch.keys()
        for k, v in batch.items():
            assert torch.equal(v, mem[k]) and v.dtype == mem[k].dtype, k
        with torch.no_grad():
            assert model(**batch).loss.item() == model(**mem).loss.item()


@pytest.mark.parametrize("workers", [0, 1])
def test_stream_without_usable_records_is_one_line_error(tmp_path, processor, workers):
    from florenz.data.shards import Record, ShardWriter, write_stats

    with ShardWriter(tmp_path, "train", shard_size=4) as w:
        w.write(Record("r0", b"", "jpg", {"samples": [{"task": "caption", "lang": "en", "tgt": "x"}]}))
    write_stats(tmp_path, {"train": {"caption/en": 1}})
    with pytest.raises(FlorenzError, match="no usable record") as e:
        source(tmp_path, processor, workers=workers).step_batches(4, 4)
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)


def test_close_ends_the_workers(synthetic, processor):
    """The loop closes a streamed source at the end of its stage: its DataLoader workers end then, not at exit."""
    import gc
    import multiprocessing

    src = source(synthetic, processor, workers=1)
    src.step_batches(4, 4)
    assert multiprocessing.active_children()
    src.close()
    gc.collect()
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("fmt", ["pax", "gnu", "ustar"])
def test_tar_reader_equals_tarfile(tmp_path, fmt):
    """The shards' own tar reader (shards._tar_files: ustar headers parsed directly, the rest through tarfile) gives
    what tarfile gives, long and non-ASCII names included."""
    import io
    import tarfile

    from florenz.data.shards import _tar_files

    path = tmp_path / "t.tar"
    long = "d/" + "x" * 90 + "/y.jpg" if fmt == "ustar" else "d/" + "x" * 120 + ".jpg"
    with tarfile.open(path, "w", format={"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT,
                                         "ustar": tarfile.USTAR_FORMAT}[fmt]) as t:
        for name in ["a.json", long, "ünï.json", "b.json"]:
            info = tarfile.TarInfo(name)
            info.size = len(name.encode()) * 3
            t.addfile(info, io.BytesIO(name.encode() * 3))
    with tarfile.open(path) as t:
        want = [(m.name, t.extractfile(m).read()) for m in t if m.isfile()]
    assert list(_tar_files(path)) == want and len(want) == 4
    path.write_bytes(path.read_bytes()[:520])  # cut inside the first file's data
    with pytest.raises(tarfile.ReadError):
        list(_tar_files(path))
