"""The grammar interface and registry: one small file per language under ``world/grammars/``.

A grammar turns a (possibly partial) scene into text (`describe`, several paraphrase variants) and
lists its lexicon: every surface phrase it can produce, tagged with a category so the one generic
parser (``parse.py``) reads every language. Categories: ``shape``/``color``/``size`` (value = the
attribute), ``rel`` (value = relation, plus a pattern saying which neighbouring objects it links),
``pos`` (position), ``det`` (article / measure word: starts a noun phrase) and ``fn`` (other
function words). Relation patterns, with n = objects seen before the phrase:
``mid`` "A left-of B" (subject n-1, reference n); ``mid_rev`` "B, to its left A" (subject n, ref n-1);
``post2`` "A at B's left" (subject n-2, ref n-1); ``post1`` "B with A to its left" (subject n-1, ref n-2).

Add a language: write a module with a `Grammar` subclass and `register_grammar(...)` it (and the
language itself with `florenz.languages.register_language` if it is new).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from florenz.errors import FlorenzError

BUILTIN = ("en", "de", "fr", "es", "ru", "zh")
CATEGORIES = ("shape", "color", "size", "rel", "pos", "det", "fn")
PATTERNS = ("mid", "mid_rev", "post2", "post1")


@dataclass(frozen=True)
class Entry:
    cat: str
    value: str = ""
    pattern: str = ""


def table_entries(cat: str, table, pattern: str = "") -> list[tuple[str, Entry]]:
    """Lexicon entries from a word table: {value: word | [words]} tags each word with its value; a plain
    list of words (articles, function words) is tagged with the category alone."""
    if not isinstance(table, dict):
        return [(w, Entry(cat)) for w in table]
    return [(w, Entry(cat, value, pattern)) for value, words in table.items()
            for w in ([words] if isinstance(words, str) else words)]


def join_list(parts: list[str], last: str, sep: str = ", ") -> str:
    """'a, b and c' in any language: `last` is the final conjunction with its spacing (" und ", "和")."""
    return parts[0] if len(parts) == 1 else sep.join(parts[:-1]) + last + parts[-1]


class Grammar:
    code: str = ""
    segmentation: str = "word"  # "word" (whitespace tokens) or "char" (longest match over characters)
    post_cats: frozenset[str] = frozenset()  # attribute categories that may follow their noun
    n_variants: int = 3

    def describe(self, scene: dict, variant: int = 0) -> str:
        raise NotImplementedError

    def entries(self) -> list[tuple[str, Entry]]:
        """(surface phrase, entry) pairs; the parser lower-cases and tokenises the phrases."""
        raise NotImplementedError

    # helpers shared by the grammars ------------------------------------------------------------
    @staticmethod
    def split(scene: dict) -> tuple[list[dict], dict | None, str | None]:
        return scene["objects"], scene.get("relation"), scene.get("position")

    @staticmethod
    def others(scene: dict) -> list[int]:
        """Indices of objects not taking part in the relation."""
        rel = scene.get("relation")
        used = {rel["a"], rel["b"]} if rel else set()
        return [i for i in range(len(scene["objects"])) if i not in used]


_REGISTRY: dict[str, Grammar] = {}


def register_grammar(grammar: Grammar, *, replace: bool = False) -> Grammar:
    if grammar.code in _REGISTRY and not replace:
        raise FlorenzError(f"world grammar {grammar.code!r} is already registered (pass replace=True)")
    for phrase, e in grammar.entries():
        if e.cat not in CATEGORIES or (e.cat == "rel" and e.pattern not in PATTERNS):
            raise FlorenzError(f"world grammar {grammar.code!r}: bad lexicon entry {phrase!r} {e}")
    _REGISTRY[grammar.code] = grammar
    return grammar


def get_grammar(code: str) -> Grammar:
    if code not in _REGISTRY and code in BUILTIN:
        importlib.import_module(f"florenz.world.grammars.{code}")
    if code not in _REGISTRY:
        known = sorted(set(BUILTIN) | set(_REGISTRY))
        raise FlorenzError(f"no micro-world grammar for language {code!r}; have: {', '.join(known)}")
    return _REGISTRY[code]
