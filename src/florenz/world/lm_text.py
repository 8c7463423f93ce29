"""Decoder pre-training text: monolingual sentences per language from the same grammars.

Half the sentences begin with the language's caption prefix ("La photo montre ..."), so a decoder
pre-trained on T languages knows how a caption continues in each of them; the rest are bare
descriptions, full or partial. Scenes are sampled fresh (text only, no images) and held-out scene
contents are excluded so that no held-out caption appears verbatim in pre-training text.
"""

from __future__ import annotations

import zlib

import numpy as np

from florenz.prompts import decoder_target
from florenz.world.config import WorldConfig
from florenz.world.grammar import get_grammar
from florenz.world.scene import partial_scene, sample_content, scene_key


def lm_sentences(cfg: WorldConfig, lang: str, n: int, seed: int, exclude: set | None = None) -> list[str]:
    """`n` sentences in `lang`, deterministic in (seed, lang); `exclude` holds scene keys to avoid."""
    g = get_grammar(lang)
    rng = np.random.default_rng([seed, 77, zlib.crc32(lang.encode())])
    out: list[str] = []
    while len(out) < n:
        content = sample_content(rng, cfg.min_objects, cfg.max_objects)
        if exclude and scene_key(content) in exclude:
            continue
        if rng.random() < 0.3:
            content = partial_scene(content, rng, cfg.src_keep_attribute, 0.0)
        text = g.describe(content, int(rng.integers(g.n_variants)))
        out.append(decoder_target("caption", lang, text) if rng.random() < 0.5 else text)
    return out
