from __future__ import annotations

import pytest

from florenz.config import Config, config_from_dict, load_config, save_config
from florenz.errors import ConfigError


def test_defaults_and_overrides():
    cfg = load_config(None, ["train.lr=3e-4", "train.samples=1e5", "world.languages=en,fr", "model.preset=x"])
    assert cfg.train.lr == pytest.approx(3e-4)
    assert cfg.train.samples == 100000 and isinstance(cfg.train.samples, int)
    assert cfg.world.languages == ["en", "fr"]
    assert cfg.model.preset == "x"


def test_named_config_and_extends():
    cfg = load_config("paper_sweep")
    assert cfg.train.batch_size == 1024 and cfg.train.lr == pytest.approx(1e-4)
    assert cfg.sweep.presets[-1] == "F-11.2B"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("train.lrr=1", "train.lrr"),
        ("nosuch.key=1", "nosuch"),
        ("train.samples=abc", "train.samples"),
        ("train.lr=true", "train.lr"),
        ("train=3", "train"),
        ("novalue", "section.key=value"),
    ],
)
def test_bad_overrides_name_the_key(override, needle):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_missing_file_and_bad_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nwarmup = 3\n")
    with pytest.raises(ConfigError, match=r"train\.warmup.*bad\.toml"):
        load_config(bad)


def test_save_round_trip(tmp_path):
    cfg = load_config("micro", ["data.class_weights={\"caption/en\" = 2.0}"])
    save_config(cfg, tmp_path / "config.toml")
    again = load_config(tmp_path / "config.toml")
    assert again == cfg
    assert config_from_dict({"train": {"seed": 3}}).train.seed == 3
    assert isinstance(Config().train.samples, int)
