"""The grid `florenz sweep` runs (the `[sweep]` config section)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SweepConfig:
    presets: list[str] = field(default_factory=lambda: ["micro-gemma-xxs", "micro-gemma-xs", "micro-gemma-s"])
    samples: list[int] = field(default_factory=lambda: [10000, 20000, 40000])
    # Decoder multilinguality T: 1 = English only ... 6 = all world languages.
    decoder_languages: list[int] = field(default_factory=lambda: [6])
    seeds: list[int] = field(default_factory=lambda: [0])
    # Extra points: presets x contrast_samples x contrast_decoder_languages x seeds (e.g. the T = 1 arm at the
    # largest budget only); empty = none.
    contrast_samples: list[int] = field(default_factory=list)
    contrast_decoder_languages: list[int] = field(default_factory=list)
    executor: str = "local"  # local | slurm
    workers: int = 1  # local worker processes
    threads_per_worker: int = 0  # 0 = cores / workers
    slurm_partition: str = ""
    slurm_array: bool = True
    slurm_time_min: int = 240
