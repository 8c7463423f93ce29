"""The decoder-LM stage cache: a run that loads a cached stage ends exactly where one that trained it does."""

from __future__ import annotations

import json

import torch

from florenz.config import load_config
from florenz.train.loop import train_run
from tests.test_train import overrides


def test_cached_lm_stage_reproduces_the_uncached_run(tiny_world, tmp_path):
    cache = tmp_path / "lm_cache"
    plain = train_run(load_config("micro", overrides(tiny_world)), tmp_path / "plain")
    miss = train_run(load_config("micro", overrides(tiny_world, **{"train.decoder_lm_cache": str(cache)})),
                     tmp_path / "miss")
    entries = [p for p in cache.iterdir() if p.is_dir()]
    assert len(entries) == 1 and entries[0].name.startswith("micro-gemma-xs-T2-")
    hit = train_run(load_config("micro", overrides(tiny_world, **{"train.decoder_lm_cache": str(cache)})),
                    tmp_path / "hit")
    assert plain["final_loss"] == miss["final_loss"] == hit["final_loss"]
    assert plain["decoder_lm_final_loss"] == hit["decoder_lm_final_loss"]
    rows = [json.loads(x) for x in (tmp_path / "hit" / "log.jsonl").read_text().splitlines()]
    assert rows[0]["stage"] == "decoder_lm" and "cached" in rows[0]
    # a different LM budget is a different entry, never a stale hit
    other = train_run(load_config("micro", overrides(tiny_world, **{"train.decoder_lm_cache": str(cache),
                                                                     "train.decoder_lm_samples": 24})),
                      tmp_path / "other")
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 2
    assert other["decoder_lm_samples"] == 24


def test_cached_lm_stage_keeps_the_runs_own_vision_tower(tiny_world, tmp_path):
    """A run whose vision pre-training differs from the run that filled the LM cache must keep its own tower
    (the entry once held the whole model, so a hit silently replaced the tower with the other run's)."""
    from tests.test_train_vision import VISION, _vision_state

    cache = {"train.decoder_lm_cache": str(tmp_path / "lm_cache")}
    train_run(load_config("micro", overrides(tiny_world, **VISION, **cache)), tmp_path / "first")
    other = {**VISION, "train.vision_pretrain_samples": 32}
    hit = train_run(load_config("micro", overrides(tiny_world, **other, **cache)), tmp_path / "hit")
    alone = train_run(load_config("micro", overrides(tiny_world, **other)), tmp_path / "alone")
    rows = [json.loads(x) for x in (tmp_path / "hit" / "log.jsonl").read_text().splitlines()]
    assert rows[0]["stage"] == "decoder_lm" and "cached" in rows[0]  # the LM stage did come from the cache
    v_hit, v_alone, v_first = (_vision_state(tmp_path / n) for n in ("hit", "alone", "first"))
    assert all(torch.equal(v_hit[k], v_alone[k]) for k in v_alone)
    assert any(not torch.equal(v_hit[k], v_first[k]) for k in v_first)
    assert hit["final_loss"] == alone["final_loss"]
