"""Caption tokenisation for CIDEr / BLEU-4: NFKC, lowercase, punctuation removed, whitespace split.

Caption metrics are very sensitive to tokenisation, so the chosen scheme is always written into the
metric's signature (`tok_signature`). Languages written without spaces (zh/ja/th, from the language
table) are segmented into characters by default; stanza word segmentation is an optional extra.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from functools import cache

from florenz.errors import FlorenzError
from florenz.languages import get_language

SEGMENTERS = ("default", "word", "char", "stanza")
TOKENIZER_VERSION = "1"


class _PunctToSpace(dict):
    """str.translate table that maps Unicode punctuation (category P*) to a space, filled lazily."""

    def __missing__(self, code: int) -> str:
        value = " " if unicodedata.category(chr(code)).startswith("P") else chr(code)
        self[code] = value
        return value


_PUNCT = _PunctToSpace()


def normalize(text: str) -> str:
    """NFKC, lowercase, punctuation -> space (so 'dog,cat' gives two tokens, not one)."""
    return unicodedata.normalize("NFKC", text).lower().translate(_PUNCT)


def _is_scriptio_continua(ch: str) -> bool:
    """Characters of scripts written without spaces (CJK, kana, Thai, Lao, Khmer, Myanmar)."""
    o = ord(ch)
    return (
        0x2E80 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3FFFF or 0xAC00 <= o <= 0xD7AF
        or 0x0E00 <= o <= 0x0EFF or 0x1000 <= o <= 0x109F or 0x1780 <= o <= 0x17FF or 0xFF66 <= o <= 0xFF9F
    )


def _char_split(text: str) -> list[str]:
    """Each CJK/Thai character is a token; runs of other characters (Latin words, digits) stay whole."""
    out: list[str] = []
    for word in text.split():
        run = ""
        for ch in word:
            if _is_scriptio_continua(ch):
                if run:
                    out.append(run)
                    run = ""
                out.append(ch)
            else:
                run += ch
        if run:
            out.append(run)
    return out


def resolve_segmentation(lang: str | None, segmenter: str = "default") -> str:
    """'word' or 'char' (from the language table for 'default') or 'stanza'."""
    if segmenter not in SEGMENTERS:
        raise FlorenzError(f"unknown segmenter {segmenter!r}; known: {', '.join(SEGMENTERS)}")
    if segmenter != "default":
        return segmenter
    return get_language(lang).segmentation if lang else "word"


def tokenize_caption(text: str, lang: str | None = None, segmenter: str = "default") -> list[str]:
    """Tokens of one caption under the scheme named by `tok_signature(lang, segmenter)`."""
    return tokenizer_for(lang, segmenter)(text)


_JOIN = "\x00"  # NFKC-, case- and punctuation-stable, so normalising the joined corpus equals normalising each text


def normalize_many(texts: Sequence[str]) -> list[str]:
    """`normalize` of each text, done on the joined corpus: one NFKC/lower pass and one `str.replace` per
    punctuation character present (much faster than per-character translation over thousands of captions)."""
    joined = _JOIN.join(texts)
    if joined.count(_JOIN) != max(len(texts) - 1, 0):
        return [normalize(t) for t in texts]
    norm = unicodedata.normalize("NFKC", joined).lower()
    for ch in set(norm):
        if _PUNCT[ord(ch)] == " " and ch != " ":
            norm = norm.replace(ch, " ")
    return norm.split(_JOIN) if texts else []


def tokenize_captions(texts: Sequence[str], lang: str | None = None, segmenter: str = "default") -> list[str]:
    """Space-joined token strings (the form the n-gram metrics take)."""
    seg = resolve_segmentation(lang, segmenter)
    if seg == "word":
        return [" ".join(t.split()) for t in normalize_many(texts)]
    if seg == "char":
        return [" ".join(_char_split(t)) for t in normalize_many(texts)]
    fn = tokenizer_for(lang, segmenter)
    return [" ".join(fn(t)) for t in texts]


def tokenize_reference_sets(refs: Sequence[Sequence[str]], lang: str | None = None,
                            segmenter: str = "default") -> list[list[str]]:
    """`tokenize_captions` of every reference set, in one pass over all references."""
    flat = tokenize_captions([r for rs in refs for r in rs], lang, segmenter)
    out, i = [], 0
    for rs in refs:
        out.append(flat[i : i + len(rs)])
        i += len(rs)
    return out


def tokenizer_for(lang: str | None, segmenter: str = "default") -> Callable[[str], list[str]]:
    seg = resolve_segmentation(lang, segmenter)
    if seg == "word":
        return lambda t: normalize(t).split()
    if seg == "char":
        return lambda t: _char_split(normalize(t))
    stanza_fn = _stanza_tokenizer(lang or "en")
    return lambda t: [w for w in stanza_fn(normalize(t)) if w.strip()]


@cache
def _stanza_tokenizer(lang: str) -> Callable[[str], list[str]]:
    try:
        import stanza  # type: ignore[import-not-found]
    except ImportError:
        raise FlorenzError(
            "segmenter 'stanza' needs the stanza package and its local models: pip install stanza, then "
            f"stanza.download('{lang}', processors='tokenize') while online"
        ) from None
    try:
        nlp = stanza.Pipeline(lang, processors="tokenize", download_method=None, verbose=False)
    except Exception as e:  # stanza raises several types for a missing model
        raise FlorenzError(f"stanza tokenizer for {lang!r} is not available locally ({e})") from None
    return lambda t: [tok.text for s in nlp(t).sentences for tok in s.tokens]


def tok_signature(lang: str | None, segmenter: str = "default") -> str:
    """Name of the tokenisation, e.g. 'florenz-v1(nfkc,lower,nopunct,char)'."""
    seg = resolve_segmentation(lang, segmenter)
    return f"florenz-v{TOKENIZER_VERSION}(nfkc,lower,nopunct,{seg})"
