"""CLI of this stage (placeholder until the stage lands)."""

from __future__ import annotations

from florenz.errors import FlorenzError


def evaluate() -> None:
    """Evaluate a run or checkpoint: held-out CE, generation, metrics; scores.json goes to --out."""
    raise FlorenzError("eval: not implemented yet")


def score() -> None:
    """Score hypotheses against references without a model (CIDEr, BLEU-4, BLEU, chrF)."""
    raise FlorenzError("score: not implemented yet")

