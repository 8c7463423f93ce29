"""One parser for every world language, driven by each grammar's lexicon.

`parse` maps text back to a scene (content only), `attribute_accuracy` scores any text against a
scene with partial credit, and `in_language` checks that every word belongs to the language's
lexicon. None of them raises on garbage: unknown words are skipped (and make `in_language` false).
"""

from __future__ import annotations

import itertools
import re
from functools import cache

from florenz.world.grammar import Entry, get_grammar
from florenz.world.scene import ATTRS, relation_key

_PUNCT = re.compile(r"[\s,.;:!?'’\-\"()，。；：！？、“”]+")
_UNKNOWN = Entry("unk")
_CONTENT = ("shape", "color", "size", "rel", "pos")


@cache
def _lexicon(lang: str) -> tuple[dict[tuple[str, ...], Entry], int]:
    """Phrase (tuple of tokens, or of characters for char languages) -> entry, and the longest length."""
    from florenz.languages import get_language

    g = get_grammar(lang)
    table: dict[tuple[str, ...], Entry] = {}
    prefix = get_language(lang).prefix if lang in _known_codes() else ""
    for w in _tokens(prefix, g.segmentation):  # the decoder prefix is part of the language too
        table.setdefault((w,), Entry("fn"))
    if g.segmentation == "char" and prefix:
        table.setdefault(tuple(_norm(prefix)), Entry("fn"))
    for phrase, entry in g.entries():
        key = tuple(_norm(phrase)) if g.segmentation == "char" else tuple(_tokens(phrase, "word"))
        table[key] = entry
    return table, max(len(k) for k in table)


def _known_codes() -> set[str]:
    from florenz.languages import known_languages

    return set(known_languages())


def _norm(text: str) -> str:
    return _PUNCT.sub("", text.lower())


def _tokens(text: str, segmentation: str) -> list[str]:
    if segmentation == "char":
        return list(_norm(text))
    return [t for t in _PUNCT.split(text.lower()) if t]


def tag(text: str, lang: str) -> list[Entry]:
    """Greedy longest-match of lexicon phrases; unmatched tokens become `unk` entries."""
    table, longest = _lexicon(lang)
    toks = _tokens(text if isinstance(text, str) else "", get_grammar(lang).segmentation)
    out, i = [], 0
    while i < len(toks):
        for n in range(min(longest, len(toks) - i), 0, -1):
            e = table.get(tuple(toks[i:i + n]))
            if e is not None:
                out.append(e)
                i += n
                break
        else:
            out.append(_UNKNOWN)
            i += 1
    return out


def parse(text: str, lang: str) -> dict:
    """The scene a text states: objects in order of mention, one relation, one position."""
    g = get_grammar(lang)
    objects: list[dict] = []
    pending: dict[str, str] = {}
    after_noun = False  # post-nominal adjectives attach to the last noun until a new phrase starts
    rels: list[tuple[Entry, int]] = []
    position = None
    for e in tag(text, lang):
        if e.cat in ("color", "size"):
            if after_noun and e.cat in g.post_cats and e.cat not in objects[-1]:
                objects[-1][e.cat] = e.value
            else:
                pending[e.cat] = e.value
                after_noun = False
        elif e.cat == "shape":
            objects.append({"shape": e.value, **pending})
            pending, after_noun = {}, True
        else:
            after_noun = False
            if e.cat == "det":
                pending = {}
            elif e.cat == "rel":
                rels.append((e, len(objects)))
            elif e.cat == "pos" and position is None:
                position = e.value
    relation = None
    for e, n in rels:
        sub, ref = {"mid": (n - 1, n), "mid_rev": (n, n - 1), "post2": (n - 2, n - 1), "post1": (n - 1, n - 2)}[
            e.pattern]
        if 0 <= sub < len(objects) and 0 <= ref < len(objects):
            relation = {"rel": e.value, "a": sub, "b": ref}
            break
    return {"objects": objects, "relation": relation, "position": position}


def in_language(text: str, lang: str) -> bool:
    """True iff every word is in the language's lexicon and at least one is a content word."""
    tags = tag(text, lang)
    return bool(tags) and all(e.cat != "unk" for e in tags) and any(e.cat in _CONTENT for e in tags)


def attribute_accuracy(text: str, scene: dict, lang: str) -> float:
    """Share of the scene's stated attributes the text gets right, with partial credit.

    Slots: each object's shape/colour/size present in `scene`, plus one for the relation (or the
    position). Predicted objects are matched to true ones to maximise agreement; every extra
    predicted object adds three slots (a hallucination costs like a missed object).
    """
    try:
        pred = parse(text, lang)
    except Exception:  # noqa: BLE001 - scoring must never crash on model output
        return 0.0
    true_objs = scene.get("objects", [])
    slots = sum(1 for o in true_objs for a in ATTRS if o.get(a))
    has_layout = relation_key(scene) is not None or scene.get("position") is not None
    slots += int(has_layout) + 3 * max(0, len(pred["objects"]) - len(true_objs))
    if slots == 0:
        return 0.0
    best = 0
    p_objs = pred["objects"]
    idx = list(range(len(p_objs))) + [None] * max(0, len(true_objs) - len(p_objs))
    for perm in set(itertools.permutations(idx, len(true_objs))):
        score = sum(1 for t, p in zip(true_objs, perm, strict=True) if p is not None
                    for a in ATTRS if t.get(a) and p_objs[p].get(a) == t[a])
        if has_layout:
            score += int(_layout_ok(scene, pred, perm))
        best = max(best, score)
    return min(1.0, best / slots)


def _layout_ok(scene: dict, pred: dict, perm: tuple) -> bool:
    if scene.get("relation"):
        rel, prel = scene["relation"], pred.get("relation")
        if not prel:
            return False
        mapped = {"rel": rel["rel"], "a": perm[rel["a"]], "b": perm[rel["b"]]}
        if mapped["a"] is None or mapped["b"] is None:
            return False
        flip = {"left": "right", "right": "left", "above": "below", "below": "above"}
        same = (prel["a"], prel["b"], prel["rel"]) == (mapped["a"], mapped["b"], mapped["rel"])
        swapped = (prel["a"], prel["b"], prel["rel"]) == (mapped["b"], mapped["a"], flip[mapped["rel"]])
        return same or swapped
    return scene.get("position") is not None and pred.get("position") == scene.get("position")
