"""The decoder-LM stage cache: a run that loads a cached stage ends exactly where one that trained it does."""

from __future__ import annotations

import json

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
