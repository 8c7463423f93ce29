from __future__ import annotations

import pytest

from florenz.config import load_config
from florenz.errors import FlorenzError
from florenz.sweep.grid import RunSpec, expand_grid, run_config, run_status


def test_grid_expands_and_names_runs_by_parameters():
    cfg = load_config(None, ["sweep.presets=a,b", "sweep.samples=[10, 20]", "sweep.decoder_languages=[1, 6]",
                             "sweep.seeds=[0]"])
    specs = expand_grid(cfg)
    assert len(specs) == 8
    assert len({s.name for s in specs}) == 8
    assert "a__S10__T1__seed0" in {s.name for s in specs}


def test_run_config_sets_the_point():
    cfg = load_config(None, ["world.languages=en,de,fr"])
    point = run_config(cfg, RunSpec("micro-gemma-xs", 123, 2, 7))
    assert point.model.preset == "micro-gemma-xs" and point.train.samples == 123 and point.train.seed == 7
    assert point.train.decoder_lm_languages == ["en", "de"]
    assert cfg.train.seed == 0  # the base config is not mutated
    assert run_config(cfg, RunSpec("x", 1, 0, 0)).train.decoder_lm_samples == 0
    replaying = load_config(None, ["world.languages=en,de,fr", "train.decoder_lm_replay=1.0"])
    assert run_config(replaying, RunSpec("x", 1, 2, 0)).train.decoder_lm_replay == 1.0
    assert run_config(replaying, RunSpec("x", 1, 0, 0)).train.decoder_lm_replay == 0.0  # T = 0: no LM text to replay


@pytest.mark.parametrize("override", ["sweep.decoder_languages=[9]", "sweep.samples=[0]", "sweep.presets=[]"])
def test_bad_grids_are_errors(override):
    with pytest.raises(FlorenzError):
        expand_grid(load_config(None, [override]))


def test_contrast_points_are_added_without_duplicates_most_expensive_first():
    cfg = load_config(None, ["sweep.presets=a-xs,a-m", "sweep.samples=[10, 20]", "sweep.decoder_languages=[6]",
                             "sweep.contrast_samples=[20]", "sweep.contrast_decoder_languages=[1, 6]"])
    specs = expand_grid(cfg)
    names = [s.name for s in specs]
    assert len(names) == len(set(names)) == 6  # 4 main + 2 T=1 contrast points (T=6 at 20 already there)
    assert {n for n in names if "__T1__" in n} == {"a-xs__S20__T1__seed0", "a-m__S20__T1__seed0"}
    assert specs[0].preset == "a-m" and specs[0].samples == 20


def test_every_presets_costliest_point_starts_first():
    """Parallel workers start each preset's shared stage (a fixed-seed vision tower) at once, not one after the
    other: the first points are one per preset, then the rest most expensive first."""
    cfg = load_config(None, ["sweep.presets=a-xs,a-s", "sweep.samples=[10, 40]", "sweep.decoder_languages=[6]",
                             "sweep.seeds=[0, 1, 2]"])
    names = [s.name for s in expand_grid(cfg)]
    assert names[:3] == ["a-s__S40__T6__seed0", "a-xs__S40__T6__seed0", "a-s__S40__T6__seed1"]
    assert len(names) == len(set(names)) == 12


def test_run_status(tmp_path):
    d = tmp_path / "run"
    assert run_status(d) == "new"
    (d / "checkpoints" / "step-1").mkdir(parents=True)
    assert run_status(d) == "partial"
    (d / "result.json").write_text("{}")
    assert run_status(d) == "trained"
    (d / "scores.json").write_text("{}")
    assert run_status(d) == "done"
