"""Settings of the procedurally generated micro world (the `[world]` config section)."""

from __future__ import annotations

from dataclasses import dataclass, field

from florenz.errors import FlorenzError

# Named difficulty levels. A preset fills the fields still at their defaults (an explicit setting wins, unless
# it equals the default). `standard` is the defaults; `easy` has fewer, larger objects and less noise, so a
# CPU budget learns seen captioning well (the demo's choice); `single` is one large object per image.
WORLD_PRESETS: dict[str, dict] = {
    "standard": {},
    "easy": {"max_objects": 2, "noise": 0.03, "small_radius": 0.16, "large_radius": 0.25},
    "single": {"max_objects": 1, "noise": 0.03, "small_radius": 0.16, "large_radius": 0.25},
}


@dataclass
class WorldConfig:
    preset: str = "standard"  # a name in WORLD_PRESETS (see there)
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
    captions_per_image: int = 2  # caption paraphrases per caption language and image
    small_radius: float = 0.14  # object radius as a share of image_size (jittered +-10 %)
    large_radius: float = 0.22
    src_keep_attribute: float = 0.6  # translation source: chance to state each size/colour attribute
    src_loose: float = 0.1  # translation source: chance that one stated attribute is wrong (loose match)
    vocab_size: int = 1500  # micro tokenizer vocabulary

    def validate(self) -> WorldConfig:
        """Fail early, naming the bad key, before a long build starts (and apply the preset)."""
        self.apply_preset()
        from florenz.languages import check_languages
        from florenz.world.grammar import get_grammar

        check_languages(self.languages, "world.languages")
        for lang in self.languages:
            get_grammar(lang)
        if "en" not in self.languages:
            raise FlorenzError("world.languages must include 'en' (translation sources are English)")
        for key in ("caption_languages", "translation_languages"):
            codes = check_languages(getattr(self, key), f"world.{key}")
            extra = [c for c in codes if c not in self.languages]
            if extra:
                raise FlorenzError(f"world.{key}: {extra} not in world.languages {self.languages}")
        if "en" in self.translation_languages:
            raise FlorenzError("world.translation_languages must not include 'en' (sources are English)")
        if not self.caption_languages:
            raise FlorenzError("world.caption_languages must name at least one language")
        positive = ("image_size", "min_objects", "max_objects", "train_scenes", "heldout_scenes", "shard_size",
                    "captions_per_image", "vocab_size")
        for key in positive:
            if getattr(self, key) <= 0:
                raise FlorenzError(f"world.{key} must be positive, got {getattr(self, key)}")
        if self.lm_sentences < 0:
            raise FlorenzError(f"world.lm_sentences must be >= 0, got {self.lm_sentences}")
        if self.min_objects > self.max_objects:
            raise FlorenzError(f"world.min_objects ({self.min_objects}) > world.max_objects ({self.max_objects})")
        if self.max_objects > 3:
            raise FlorenzError(f"world.max_objects must be <= 3 (images fit three objects), got {self.max_objects}")
        if self.image_size < 32:
            raise FlorenzError(f"world.image_size must be >= 32 pixels, got {self.image_size}")
        if not 0 < self.small_radius < self.large_radius <= 0.3:
            raise FlorenzError(f"world.small_radius/large_radius must satisfy 0 < small < large <= 0.3, "
                               f"got {self.small_radius}/{self.large_radius}")
        for key in ("noise", "src_keep_attribute", "src_loose"):
            if not 0 <= getattr(self, key) <= 1:
                raise FlorenzError(f"world.{key} must be in [0, 1], got {getattr(self, key)}")
        return self

    def apply_preset(self) -> WorldConfig:
        """Fill the fields still at their defaults from the named preset (idempotent)."""
        if self.preset not in WORLD_PRESETS:
            raise FlorenzError(f"world.preset must be one of {', '.join(WORLD_PRESETS)}, got {self.preset!r}")
        defaults = WorldConfig.__dataclass_fields__
        for key, value in WORLD_PRESETS[self.preset].items():
            if getattr(self, key) == defaults[key].default:
                setattr(self, key, value)
        return self
