"""Language fidelity: the share of generated texts whose detected language is the target.

Uses py3langid (ships its model; `pip install florenz[langid]`). Codes that the detector spells
differently from the benchmarks are mapped (fil->tl, quz->qu, no->nb/nn/no, he->he/iw ...). A target the
detector cannot output gives None with a reason instead of a misleading 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from florenz.errors import FlorenzError

# benchmark code -> the detector codes that count as a hit
ALIASES = {"fil": {"tl", "fil"}, "quz": {"qu", "quz"}, "no": {"no", "nb", "nn"}, "he": {"he", "iw"},
           "zh": {"zh"}, "id": {"id", "ms"}}


@cache
def _identifier():
    try:
        from py3langid.langid import _get_identifier
    except ImportError:
        raise FlorenzError("language fidelity needs py3langid: pip install 'florenz[langid]'") from None
    return _get_identifier()  # the packaged model, loaded once


def detector_languages() -> set[str]:
    return set(_identifier().nb_classes)


def detect(text: str) -> str:
    return str(_identifier().classify(text)[0])


def accepted_codes(lang: str) -> set[str]:
    return ALIASES.get(lang, {lang}) & detector_languages()


def fidelity(texts: Sequence[str], lang: str) -> tuple[float | None, str]:
    """(percentage of texts detected as `lang`, signature); None when the detector lacks the language."""
    codes = accepted_codes(lang)
    import py3langid

    version = getattr(py3langid, "__version__", "0.4")
    sig = f"detector:py3langid-{version}|target:{lang}|accept:{','.join(sorted(codes))}"
    if not codes:
        return None, sig + "|unsupported"
    if not texts:
        return None, sig + "|empty"
    hits = sum(detect(t) in codes for t in texts)
    return 100.0 * hits / len(texts), sig
