"""What `florenz eval` measures (the `[eval]` config section)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvalConfig:
    beams: int = 4
    max_new_tokens: int = 40
    batch_size: int = 64
    ce_samples_per_class: int = 256  # held-out samples per task/lang for cross-entropy; 0 = all
    generation_samples: int = 64  # held-out images per language for generation; 0 = all
    benchmarks: list[str] = field(default_factory=list)  # e.g. ["multi30k", "commute"]
    benchmark_root: str = ""  # local folder holding the benchmarks' official files
