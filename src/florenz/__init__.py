"""florenz: multilingual encoder-decoder vision-language models (Florenz, arXiv 2503.09443)."""

from __future__ import annotations

__version__ = "0.1.0"


def load(path: str, device: str | None = None):
    """Load a florenz checkpoint directory for captioning and translation (see florenz.inference)."""
    from florenz.inference.api import load as _load

    return _load(path, device=device)
