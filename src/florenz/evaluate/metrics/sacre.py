"""BLEU and chrF through sacrebleu (the translation metrics), with sacrebleu's own signatures.

The BLEU tokenizer comes from the language table (`zh` for Chinese, `13a` otherwise); a variable
number of references per item is padded with None, which sacrebleu skips.
"""

from __future__ import annotations

from collections.abc import Sequence

from florenz.languages import get_language, known_languages


def bleu_tokenizer(lang: str | None) -> str:
    """The language table's sacrebleu tokenizer; 13a for languages not in the table (or none given)."""
    return get_language(lang).bleu_tokenizer if lang and lang in known_languages() else "13a"


def _streams(refs: Sequence[Sequence[str]]) -> list[list[str | None]]:
    width = max(len(r) for r in refs)
    return [[r[k] if k < len(r) else None for r in refs] for k in range(width)]


def sacre_bleu(hyps: Sequence[str], refs: Sequence[Sequence[str]], lang: str | None = None) -> tuple[float, str]:
    from sacrebleu.metrics import BLEU

    metric = BLEU(tokenize=bleu_tokenizer(lang))
    score = metric.corpus_score(list(hyps), _streams(refs))
    return float(score.score), metric.get_signature().format()


def sacre_chrf(hyps: Sequence[str], refs: Sequence[Sequence[str]], lang: str | None = None) -> tuple[float, str]:
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    score = metric.corpus_score(list(hyps), _streams(refs))
    return float(score.score), metric.get_signature().format()
