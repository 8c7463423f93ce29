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
    # Image-shuffled control: generate again with the images permuted across the held-out items (modes
    # prefix_shuffled / no_prefix_shuffled): how much of a caption comes from the image at all.
    shuffled_control: bool = True
    shuffle_seed: int = 0
    benchmarks: list[str] = field(default_factory=list)  # e.g. ["multi30k", "commute"]
    benchmark_root: str = ""  # local folder holding the benchmarks' official files
    text_only: bool = False  # benchmarks without their images: a blank image is fed (and reported)
    benchmark_samples: int = 0  # items per benchmark split / language pair; 0 = all
    multi30k_splits: list[str] = field(
        default_factory=lambda: ["test_2016_flickr", "test_2017_flickr", "test_2017_mscoco"])
    multi30k_langs: list[str] = field(default_factory=lambda: ["de", "fr", "cs"])
    xm3600_langs: list[str] = field(default_factory=lambda: ["en", "de", "fr", "es", "ru", "zh"])
    commute_langs: list[str] = field(default_factory=lambda: ["de", "fr", "ru", "zh", "cs", "ar"])
    segmenter: str = "default"  # caption tokenisation for CIDEr/BLEU-4: default | word | char | stanza
    optional_metrics: list[str] = field(default_factory=list)  # "comet" (Multi30K), "clipscore" (captions)
    comet_model: str = ""  # local COMET checkpoint for `comet-score` (separate environment)
    clip_checkpoint: str = ""  # local open_clip checkpoint file for CLIPScore
    clip_model: str = "ViT-B-32"
