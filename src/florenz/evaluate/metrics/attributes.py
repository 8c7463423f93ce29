"""Micro world metrics: exact attribute accuracy and in-language share, by parsing captions back
into scenes with the world's own parser (florenz.world.parse), so the grammar lives in one place."""

from __future__ import annotations

from collections.abc import Sequence

from florenz.errors import FlorenzError


def _parse():
    try:
        from florenz.world import parse
    except ImportError as e:
        raise FlorenzError(f"micro world parser not available ({e})") from None
    return parse


def attribute_accuracy(texts: Sequence[str], scenes: Sequence[dict], lang: str) -> float:
    """Mean exact attribute accuracy (percent) of captions against the scenes they describe."""
    if len(texts) != len(scenes):
        raise FlorenzError(f"attribute accuracy: {len(texts)} captions but {len(scenes)} scenes")
    if not texts:
        return float("nan")
    p = _parse()
    return 100.0 * sum(float(p.attribute_accuracy(t, s, lang)) for t, s in zip(texts, scenes, strict=True)) / len(texts)


def world_fidelity(texts: Sequence[str], lang: str) -> float:
    """Share (percent) of captions the world's parser accepts as written in `lang`."""
    if not texts:
        return float("nan")
    p = _parse()
    return 100.0 * sum(bool(p.in_language(t, lang)) for t in texts) / len(texts)
