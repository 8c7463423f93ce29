"""Re-make the Florence (BART) decoder embedding for the Gemma-2 tokenizer.

Each Gemma token's string is re-tokenised with the BART tokenizer ("▁" becomes a space; a "<0xNN>"
byte token becomes its ASCII character) and its new row is the mean of those BART rows. Special tokens
map bos -> <s>, eos -> </s>, unk -> <unk>, pad -> <pad>; any other special token, or a token whose
string BART cannot tokenise, gets N(0, 0.02).
"""

from __future__ import annotations

import re

import torch

from florenz.errors import FlorenzError

SPECIAL_PAIRS = ("bos", "eos", "unk", "pad")
_BYTE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def token_text(token: str) -> str | None:
    """The surface string of a SentencePiece-style token, or None if it has none we can re-tokenise."""
    m = _BYTE.match(token)
    if m:
        value = int(m.group(1), 16)
        return chr(value) if value < 128 else None
    return token.replace("\u2581", " ")


def remap_plan(gemma_tokenizer, bart_tokenizer) -> list[list[int]]:
    """For every Gemma id, the BART ids whose rows are averaged ([] = no match, random row)."""
    vocab = len(gemma_tokenizer)
    plan: list[list[int]] = [[] for _ in range(vocab)]
    special_ids = set(gemma_tokenizer.all_special_ids)
    for name in SPECIAL_PAIRS:
        g, b = getattr(gemma_tokenizer, f"{name}_token_id", None), getattr(bart_tokenizer, f"{name}_token_id", None)
        if g is not None and b is not None:
            plan[g] = [b]
    tokens = gemma_tokenizer.convert_ids_to_tokens(list(range(vocab)))
    todo = [(i, token_text(t)) for i, t in enumerate(tokens) if i not in special_ids and t is not None]
    todo = [(i, s) for i, s in todo if s]
    if todo:
        encoded = bart_tokenizer([s for _, s in todo], add_special_tokens=False)["input_ids"]
        for (i, _), ids in zip(todo, encoded, strict=True):
            plan[i] = list(ids)
    return plan


@torch.no_grad()
def remap_embedding(bart_weight: torch.Tensor, gemma_tokenizer, bart_tokenizer, std: float = 0.02,
                    generator: torch.Generator | None = None, chunk: int = 8192) -> torch.Tensor:
    """A (len(gemma_tokenizer), d) embedding built from BART's (V_bart, d) rows.

    Rows are averaged `chunk` Gemma ids at a time: gathering every matched BART row at once would hold
    ~3 x 256k x d floats beside the result (2 GB for F-0.4B), more than the model itself."""
    plan = remap_plan(gemma_tokenizer, bart_tokenizer)
    bad = [i for row in plan for i in row if i >= bart_weight.shape[0]]
    if bad:
        rows = bart_weight.shape[0]
        raise FlorenzError(f"BART tokenizer id {bad[0]} is outside the Florence embedding ({rows} rows)")
    weight = bart_weight.float()
    out = torch.empty(len(plan), weight.shape[1]).normal_(0.0, std, generator=generator)
    for lo in range(0, len(plan), chunk):
        part = plan[lo:lo + chunk]
        lengths = torch.tensor([len(r) for r in part])
        have = lengths > 0
        if not have.any():
            continue
        flat = torch.tensor([i for r in part for i in r], dtype=torch.long)
        owner = torch.repeat_interleave(torch.arange(len(part)), lengths)
        sums = torch.zeros(len(part), weight.shape[1]).index_add_(0, owner, weight[flat])
        out[lo:lo + len(part)][have] = sums[have] / lengths[have, None].to(out.dtype)
    return out.to(bart_weight.dtype)
