"""Registration with transformers' Auto classes, so `AutoConfig` / `AutoModelForImageTextToText`
(and `AutoModelForSeq2SeqLM`) load a florenz model directory with `from_pretrained`, no `trust_remote_code`.

`import florenz` arranges for `register()` to run as soon as transformers is imported (florenz/__init__.py),
so the CLI's start-up (`florenz --help`) still imports neither transformers nor torch.
"""

from __future__ import annotations

_done = False


def register() -> None:
    """Idempotent: tell the Auto classes about model_type "florenz"."""
    global _done
    if _done:
        return
    _done = True
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoModelForSeq2SeqLM

    from florenz.models.florenz import FlorenzConfig, FlorenzModel

    AutoConfig.register("florenz", FlorenzConfig, exist_ok=True)
    AutoModelForImageTextToText.register(FlorenzConfig, FlorenzModel, exist_ok=True)
    AutoModelForSeq2SeqLM.register(FlorenzConfig, FlorenzModel, exist_ok=True)
