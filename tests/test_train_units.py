"""Small pieces of training: the schedule, padding tables, the in-memory data set, precision choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from florenz.errors import FlorenzError
from florenz.train.batches import pad_rows, take_padded
from florenz.train.schedule import CosineSchedule
from florenz.train.setup import amp_dtype


def test_warmup_then_cosine_to_floor():
    s = CosineSchedule(peak_lr=1e-3, total_steps=100, warmup_steps=10, min_lr_ratio=0.1)
    assert s(0) == pytest.approx(1e-4) and s(9) == pytest.approx(1e-3)
    lrs = [s(i) for i in range(100)]
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))  # monotone decay after warm-up
    assert s(99) == pytest.approx(1e-4, rel=0.01)  # reaches the floor at the end of *this* budget
    short = CosineSchedule(peak_lr=1e-3, total_steps=20, warmup_steps=10)
    assert short(19) < 0.05 * 1e-3  # a smaller budget gets its own full schedule, not a truncated one
    assert CosineSchedule(1.0, 3, 10)(2) == pytest.approx(1.0)  # warm-up longer than the run: capped
    with pytest.raises(FlorenzError):
        CosineSchedule(1.0, 0, 1)


def test_pad_and_take():
    ids, lens = pad_rows([[5, 6, 7], [8], [1, 2, 3, 4, 5]], pad_id=0, max_len=4)
    assert ids.tolist() == [[5, 6, 7, 0], [8, 0, 0, 0], [1, 2, 3, 4]] and lens.tolist() == [3, 1, 4]
    batch, mask = take_padded(ids, lens, np.array([1, 0]))
    assert batch.tolist() == [[8, 0, 0], [5, 6, 7]] and mask.tolist() == [[1, 0, 0], [1, 1, 1]]


def test_precision_on_cpu():
    cpu = torch.device("cpu")
    assert amp_dtype("auto", cpu) is None and amp_dtype("bf16", cpu) is torch.bfloat16
    with pytest.raises(FlorenzError, match="fp16"):
        amp_dtype("fp16", cpu)


def test_load_split_indexes_samples_by_class(tiny_world_units):
    from florenz.data.dataset import load_lm_text, load_split
    from florenz.data.shards import read_stats

    data = load_split(tiny_world_units, "train")
    counts = read_stats(tiny_world_units)["counts"]
    assert {k: len(v) for k, v in data.samples.class_items.items()} == counts
    assert data.images.dense is not None and data.images.dense.dtype == np.uint8
    assert data.images.batch(np.array([0, 1])).shape[0] == 2
    for k, rows in data.samples.class_items.items():
        task, lang = k.split("/")
        assert all(data.samples.task[r] == task and data.samples.lang[r] == lang for r in rows[:20])
    assert len(load_lm_text(tiny_world_units, ["en"])["en"]) > 0
    with pytest.raises(FlorenzError, match="'xx'"):
        load_lm_text(tiny_world_units, ["xx"])


@pytest.fixture(scope="module")
def tiny_world_units(tmp_path_factory):
    from florenz.world.build import ensure_world
    from florenz.world.config import WorldConfig

    return ensure_world(WorldConfig(train_scenes=48, heldout_scenes=8, lm_sentences=64, shard_size=32),
                        tmp_path_factory.getbasetemp() / "worlds")


def test_pretokenised_batches_equal_processor_collate(tiny_world_units, tmp_path):
    """The VL source pre-computes what FlorenzProcessor.collate does per batch; both must give the same tensors."""
    from florenz.data.config import DataConfig
    from florenz.data.shards import Sample
    from florenz.data.tokenizer import load_tokenizer
    from florenz.models.processor import FlorenzProcessor
    from florenz.train.vl import MemoryRecords

    tok = load_tokenizer(tiny_world_units)
    proc = FlorenzProcessor.for_tokenizers(tok, tok, 64)
    from PIL import Image

    from florenz.data.dataset import load_split

    # short limits, so truncation is exercised too; the second call reads the disk cache
    dcfg = DataConfig(max_source_tokens=20, max_target_tokens=12, cache_dir=str(tmp_path))
    data = load_split(tiny_world_units)
    s = data.samples
    rows = np.array([0, 5, 17, len(s) - 1, 3])
    samples = [Sample(task=s.task[r], lang=s.lang[r], tgt=s.tgt[r], src=s.src[r], style=s.style[r]) for r in rows]
    images = [Image.fromarray(x) for x in data.images.batch(s.image[rows])]
    want = proc.collate(images, samples, max_source_tokens=20, max_target_tokens=12)
    from florenz.train import vl

    for attempt in range(2):
        vl._MEMO.clear()
        got = MemoryRecords.cached(tiny_world_units, proc, dcfg).collate(None, rows)
        assert set(got) == set(want)
        for k in want:
            assert torch.equal(got[k], want[k]) and got[k].dtype == want[k].dtype, (k, attempt)
    assert len(list((tmp_path / "tables").glob("vl-*"))) == 1
