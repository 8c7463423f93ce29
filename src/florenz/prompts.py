"""The paper's encoder prompts and decoder prefixes, in one place.

Encoder: "The target language is {name}." + a task sentence. Decoder: caption targets start with
the language's prefix ("La photo montre ...") which generation may force and always strips.
"""

from __future__ import annotations

from florenz.errors import FlorenzError
from florenz.languages import get_language

CAPTION_STYLES = {
    "short": "What does the image describe?",
    "detailed": "Describe in detail what is shown in the image.",
    "paragraph": "Describe with a paragraph what is shown in the image.",
}


def encoder_prompt(task: str, lang: str, style: str = "short", src: str = "") -> str:
    head = f"The target language is {get_language(lang).name}."
    if task == "caption":
        if style not in CAPTION_STYLES:
            raise FlorenzError(f"unknown caption style {style!r}; known: {', '.join(CAPTION_STYLES)}")
        return f"{head} {CAPTION_STYLES[style]}"
    if task == "translation":
        return f"{head} Translate the following text: {src}"
    raise FlorenzError(f"unknown task {task!r}; known: caption, translation")


def decoder_prefix(lang: str) -> str:
    return get_language(lang).prefix


def decoder_target(task: str, lang: str, text: str) -> str:
    """Caption targets carry the language prefix; translation targets are the bare translation."""
    return f"{decoder_prefix(lang)} {text}" if task == "caption" else text


def strip_prefix(text: str, lang: str) -> str:
    """Remove the language's decoder prefix (if the text starts with it) before scoring."""
    prefix = decoder_prefix(lang)
    stripped = text.lstrip()
    if stripped.startswith(prefix):
        return stripped[len(prefix):].lstrip(" :,")
    return text.strip()


def all_prompt_texts(langs: list[str]) -> list[str]:
    """Every fixed prompt string for these languages (so a micro tokenizer can cover them)."""
    out = []
    for lang in langs:
        out += [encoder_prompt("caption", lang, s) for s in CAPTION_STYLES]
        out += [encoder_prompt("translation", lang, src=""), decoder_prefix(lang)]
    return out
