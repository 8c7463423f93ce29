"""Named configs ship inside the package (a wheel has them), and a local ./configs/NAME.toml still overrides."""

from __future__ import annotations

import tomllib
from pathlib import Path

import florenz
from florenz.config import resolve_config_path

ROOT = Path(__file__).resolve().parents[1]


def test_named_configs_live_in_the_package():
    pkg = Path(florenz.__file__).resolve().parent / "configs"
    for name in ("micro", "demo", "paper_pretrain", "paper_finetune", "paper_sweep"):
        assert resolve_config_path(name).resolve() == pkg / f"{name}.toml"
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "configs/*.toml" in data["florenz"]


def test_local_configs_folder_overrides(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "micro.toml").write_text("[train]\nsamples = 8\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("micro") == Path("configs") / "micro.toml"
