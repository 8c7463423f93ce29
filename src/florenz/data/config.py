"""Which data a run trains and evaluates on (the `[data]` config section)."""

from __future__ import annotations

from dataclasses import dataclass, field

LOADERS = ("memory", "stream")  # data.loader: where the one VL data path's records are (train/stream_source.py)


@dataclass
class DataConfig:
    # Directory written by `florenz world build` or `florenz data build` (shards + stats.json).
    # Empty: build (or reuse from the cache) the micro world described by the [world] section.
    path: str = ""
    cache_dir: str = ""  # where an implicit micro world is cached; empty = ~/.cache/florenz/worlds
    # Target probability per "task/lang" class, e.g. {"caption/en" = 2.0}; empty = uniform over present classes.
    class_weights: dict[str, float] = field(default_factory=dict)
    max_source_tokens: int = 48  # encoder prompt tokens (excluding visual tokens)
    max_target_tokens: int = 48  # decoder tokens
    # Training stops when more than this share of the split's samples is unusable (corrupt record or image,
    # missing keys, empty text, records missing against stats.json); below it they are skipped and counted.
    max_skipped_share: float = 0.01
    # Where the VL stage's records are; both draw them the same way (shuffle buffer, per image one annotation toward
    # the target class mix): "memory" (decoded and tokenised once, held: small data, the micro world) or "stream"
    # (shards read by DataLoader workers; memory flat in data size).
    loader: str = "memory"
    workers: int = 2  # DataLoader workers of the stream (0 = in the training process); memory reads in-process
    shuffle_buffer: int = 1000  # records in each worker's shuffle buffer (the paper's 1,000)
