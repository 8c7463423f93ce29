"""Which model a run builds (the `[model]` config section)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    preset: str = "micro-bart-s"  # see `florenz models`
    # Real presets: a folder of hub downloads laid out as ORG/NAME (florence-community/Florence-2-base,
    # google/gemma-2-2b, ...); each preset finds its checkpoints there (presets.py). The paths below win.
    hub_dir: str = ""
    florence_path: str = ""  # local Florence-2 checkpoint dir (real presets); its tokenizer is the encoder's
    gemma_path: str = ""  # local Gemma-2 checkpoint dir: the Gemma kind's decoder; the decoder tokenizer of both kinds
    tokenizer_path: str = ""  # decoder tokenizer dir/file overriding the above (micro: default the data's)
    freeze: str = "default"  # freezing policy name, see florenz.models.freezing
    image_size: int = 0  # 0 = the preset's / the data's default
