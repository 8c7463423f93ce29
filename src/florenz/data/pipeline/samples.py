"""From one image's annotations to its training samples (the paper's sample conversion).

Annotations: ``description`` = {lang: [sentences]} for the caption languages (English written by
the describer, the others translated sentence by sentence so sentences stay aligned) and
``matches`` = {lang: [{"en", "tgt", "score", "row"}]}, the image's top-N bitext pairs per language.

Samples: short caption = first sentence; detailed = first two; paragraph ("more detailed") = all,
when there are three or more; the whole description as a translation; one translation per matched
pair; and one "paragraph" translation joining a random 2..n of the image's pairs per language.
Caption targets carry no decoder prefix (training adds it). The paragraph draw is seeded by
(seed, image id, language) so it does not depend on chunking or on a restart.
"""

from __future__ import annotations

import random
import re

from florenz.data.shards import Sample

_SENT_END = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？])")


def split_sentences(text: str) -> list[str]:
    """Sentences of a description: split after . ! ? followed by whitespace (and after CJK stops)."""
    return [s.strip() for s in _SENT_END.split(" ".join(text.split())) if s and s.strip()]


def join_sentences(sents: list[str], lang: str) -> str:
    sep = "" if lang in ("zh", "ja", "th") else " "
    return sep.join(sents)


def caption_samples(description: dict[str, list[str]], caption_langs: list[str]) -> list[Sample]:
    out: list[Sample] = []
    for lang in caption_langs:
        sents = [s for s in description.get(lang, []) if s]
        if not sents:
            continue
        out.append(Sample("caption", lang, sents[0], style="short"))
        if len(sents) >= 2:
            out.append(Sample("caption", lang, join_sentences(sents[:2], lang), style="detailed"))
        if len(sents) >= 3:
            out.append(Sample("caption", lang, join_sentences(sents, lang), style="paragraph"))
    return out


def description_translation_samples(description: dict[str, list[str]]) -> list[Sample]:
    """The whole English description translated, for every non-English description language."""
    en = join_sentences(description.get("en", []), "en")
    return [Sample("translation", lang, join_sentences(sents, lang), src=en, style="detailed")
            for lang, sents in sorted(description.items()) if lang != "en" and en and sents]


def match_samples(matches: dict[str, list[dict]], image_id: str, seed: int) -> list[Sample]:
    out: list[Sample] = []
    for lang in sorted(matches):
        pairs = matches[lang]
        out += [Sample("translation", lang, p["tgt"], src=p["en"], style="short") for p in pairs]
        if len(pairs) >= 2:
            rng = random.Random(f"{seed}:{image_id}:{lang}")
            picked = rng.sample(pairs, rng.randint(2, len(pairs)))
            out.append(Sample("translation", lang, join_sentences([p["tgt"] for p in picked], lang),
                              src=join_sentences([p["en"] for p in picked], "en"), style="paragraph"))
    return out


def annotation_samples(ann: dict, caption_langs: list[str], seed: int) -> list[dict]:
    """All samples of one image's annotation record, as contract dicts."""
    desc = ann.get("description", {})
    samples = caption_samples(desc, caption_langs) + description_translation_samples(desc)
    samples += match_samples(ann.get("matches", {}), str(ann["id"]), seed)
    return [s.to_dict() for s in samples]
