"""Law-generated runs directories for tests and examples: numbers are made up, the format is real.

Each run gets a result.json and (unless dropped) a scores.json whose CE values follow
log10 CE = b0 + b1 log10 P + b2 log10 S + b3 log10 T + noise, so fits have a known truth to recover.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from florenz.io import write_json

TRUE = {  # group -> (b0, b1 (P), b2 (S), b3 (T))
    "UC": (1.6, -0.30, -0.10, -0.05),
    "ST": (1.2, -0.15, -0.12, 0.0),
    "SC": (1.1, -0.20, -0.15, 0.0),
}


def make_runs(
    root: str | Path,
    params=(1e5, 3e5, 1e6, 3e6),
    samples=(1e4, 3e4, 1e5, 3e5),
    langs=(1, 2, 4),
    noise: float = 0.01,
    seed: int = 0,
    drop_scores: int = 0,
    unseen=("fr", "de"),
) -> Path:
    """Write one run dir per (P, S, T) under root; the first `drop_scores` runs get no scores.json."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    i = 0
    for p in params:
        for s in samples:
            for t in langs:
                d = root / f"p{int(p)}-s{int(s)}-t{t}"
                pt = 0.6 * p
                f = 2.0 * p * 32
                write_json(d / "result.json", {
                    "preset": f"micro-{int(p)}", "decoder_kind": "micro", "params": p, "trainable_params": pt,
                    "samples": s, "decoder_languages": t, "seed": seed, "wall_time_s": 1.0,
                    "flops_per_sample": f, "compute": s * f * (1 + pt / p), "final_loss": 1.0, "data": "x",
                })
                if i >= drop_scores:
                    write_json(d / "scores.json", _scores(p, s, t, noise, rng, unseen))
                i += 1
    return root


def _scores(p: float, s: float, t: int, noise: float, rng: np.random.Generator, unseen) -> dict:
    groups = {
        g: float(10 ** (b0 + b1 * np.log10(p) + b2 * np.log10(s) + b3 * np.log10(t) + rng.normal(0, noise)))
        for g, (b0, b1, b2, b3) in TRUE.items()
    }
    # Unseen-language quality rises with compute and with T, but only when the prefix is forced.
    q = float(np.clip(0.1 * np.log10(p * s) - 0.6 + 0.1 * np.log2(t) + rng.normal(0, 0.02), 0.02, 0.98))
    gen = {"prefix": {}, "no_prefix": {}}
    for lang in unseen:
        gen["prefix"][lang] = {"attribute_accuracy": 100 * q, "fidelity": 100 * min(1.0, 0.5 + q)}
        gen["no_prefix"][lang] = {"attribute_accuracy": 5.0, "fidelity": 2.0}
    summary = {
        "uc_attribute_accuracy_prefix": 100 * q,
        "uc_fidelity_prefix": 100 * min(1.0, 0.5 + q),
        "uc_attribute_accuracy_no_prefix": 5.0,
        "uc_fidelity_no_prefix": 2.0,
    }
    ce = {f"caption/{lang}": groups["UC"] for lang in unseen}
    return {"ce": ce, "groups": groups, "generation": gen, "summary": summary}
