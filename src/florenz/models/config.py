"""Which model a run builds (the `[model]` config section)."""

from __future__ import annotations

from dataclasses import dataclass

ATTN_IMPLEMENTATIONS = ("auto", "eager", "sdpa", "flash_attention_2", "flex_attention")
SOFTCAP_IMPLEMENTATIONS = ("eager", "flash_attention_2", "flex_attention")  # kernels that apply a logit soft-cap


def softcap_conflict(impl: str, softcap: float | None) -> str | None:
    """Why attention kernel `impl` cannot run a decoder whose attention logits are soft-capped at `softcap`."""
    if softcap and impl not in ("auto", *SOFTCAP_IMPLEMENTATIONS):
        return (f"model.attn_implementation={impl} ignores the decoder's attention soft-cap ({softcap:g}); "
                f"use one of {', '.join(SOFTCAP_IMPLEMENTATIONS)} or auto")
    return None


@dataclass
class ModelConfig:
    preset: str = "micro-bart-s"  # see `florenz models`
    # Real presets: a folder of hub downloads laid out as ORG/NAME (florence-community/Florence-2-base,
    # google/gemma-2-2b, ...); each preset finds its checkpoints there (presets.py). The paths below win.
    hub_dir: str = ""
    florence_path: str = ""  # local Florence-2 checkpoint dir (real presets); its tokenizer is the encoder's
    gemma_path: str = ""  # local Gemma-2 checkpoint dir: the Gemma kind's decoder; the decoder tokenizer of both kinds
    tokenizer_path: str = ""  # decoder tokenizer dir/file overriding the above (micro: default the data's)
    freeze: str = "default"  # freezing policy name, see florenz.models.freezing
    image_size: int = 0  # 0 = the preset's / the data's default
    # attention kernel, see models/runtime.py: auto (transformers' choice) | eager | sdpa
    # | flash_attention_2 | flex_attention
    attn_implementation: str = "auto"

    def attention_problem(self) -> str | None:
        """The kernel/soft-cap conflict of this preset, checked when the config is loaded."""
        from florenz.models.presets import PRESETS

        preset = PRESETS.get(self.preset)
        gemma = preset.gemma if preset is not None and preset.decoder_kind == "gemma" else {}
        return softcap_conflict(self.attn_implementation, gemma.get("attn_logit_softcapping"))
