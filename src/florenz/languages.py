"""The language table: one row per language with everything language-specific in florenz.

Prompt strings and decoder prefixes are the paper's. Users extend the table with
`register_language`; an unknown code is an error that lists the known ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from florenz.errors import FlorenzError


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # as written in the encoder prompt: "The target language is {name}."
    prefix: str  # decoder caption prefix, stripped before scoring
    segmentation: str = "word"  # "word" (whitespace) or "char" (zh/ja/th) for caption metrics
    bleu_tokenizer: str = "13a"  # sacrebleu tokenizer name

    def __post_init__(self) -> None:
        if self.segmentation not in ("word", "char"):
            raise FlorenzError(f"language {self.code!r}: segmentation must be 'word' or 'char'")


_TABLE: dict[str, Language] = {}


def register_language(lang: Language, *, replace: bool = False) -> Language:
    if lang.code in _TABLE and not replace:
        raise FlorenzError(f"language {lang.code!r} is already registered (pass replace=True)")
    _TABLE[lang.code] = lang
    return lang


for _lang in (
    Language("en", "English", "The image shows"),
    Language("de", "German", "Das Bild zeigt"),
    Language("fr", "French", "La photo montre"),
    Language("es", "Spanish", "La imagen muestra"),
    Language("ru", "Russian", "На картинке изображен"),
    Language("zh", "simplified Chinese", "图为", segmentation="char", bleu_tokenizer="zh"),
    Language("cs", "Czech", "Na obrázku je"),
    Language("ar", "Arabic", "تظهر الصورة"),
    Language("ja", "Japanese", "写真は", segmentation="char", bleu_tokenizer="char"),
    Language("th", "Thai", "ภาพแสดง", segmentation="char", bleu_tokenizer="char"),
):
    register_language(_lang)


def get_language(code: str) -> Language:
    try:
        return _TABLE[code]
    except KeyError:
        raise FlorenzError(f"unknown language {code!r}; known: {', '.join(sorted(_TABLE))}") from None


def known_languages() -> list[str]:
    return sorted(_TABLE)


def check_languages(codes: list[str] | tuple[str, ...], what: str = "languages") -> list[str]:
    """Validate a list of codes at config time so a typo fails before a long job starts."""
    for c in codes:
        get_language(c)
    if len(set(codes)) != len(codes):
        raise FlorenzError(f"{what}: duplicate language codes in {list(codes)}")
    return list(codes)
