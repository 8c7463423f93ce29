"""Which model a run builds (the `[model]` config section)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    preset: str = "micro-bart-s"  # see `florenz models`
    florence_path: str = ""  # local Florence-2 checkpoint dir (real presets); empty = random init
    gemma_path: str = ""  # local Gemma-2 checkpoint dir (Gemma-kind real presets)
    tokenizer_path: str = ""  # decoder tokenizer dir/file; empty = the data's tokenizer (micro world)
    freeze: str = "default"  # freezing policy name, see florenz.models.freezing
    image_size: int = 0  # 0 = the preset's / the data's default
