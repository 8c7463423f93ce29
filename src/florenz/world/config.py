"""Settings of the procedurally generated micro world (the `[world]` config section)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WorldConfig:
    seed: int = 0
    image_size: int = 64  # pixels per side
    min_objects: int = 1
    max_objects: int = 3
    languages: list[str] = field(default_factory=lambda: ["en", "de", "fr", "es", "ru", "zh"])
    caption_languages: list[str] = field(default_factory=lambda: ["en", "de"])
    # Translation targets: every language except English (so de has both, as in the paper).
    translation_languages: list[str] = field(default_factory=lambda: ["de", "fr", "es", "ru", "zh"])
    train_scenes: int = 20000  # images in the training split
    heldout_scenes: int = 400  # images in the held-out split (disjoint scenes)
    lm_sentences: int = 20000  # decoder pre-training sentences per language
    noise: float = 0.06  # pixel noise std (0..1 scale)
    shard_size: int = 2000  # records per WebDataset shard
