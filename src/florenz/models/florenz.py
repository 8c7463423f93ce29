"""The Florenz model: DaViT vision tower -> projection -> visual tokens + prompt -> BART encoder -> decoder.

One class serves every preset, as a transformers `PreTrainedModel` + `GenerationMixin`: the library's
encoder-decoder `generate()` drives it (every strategy: greedy, beam, sampling, constraints, ...), its cache
classes hold the self- and cross-attention keys/values, and `save_pretrained` / `from_pretrained` /
the Auto classes work (auto.py). The decoder is Florence-2's BART decoder (vocabulary re-made for Gemma-2)
or Gemma-2 with gated cross-attention (cross_attention.py). All building blocks are transformers' own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BartConfig, Florence2Config, Florence2VisionConfig, Gemma2Config, GenerationMixin
from transformers import initialization as init
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.configuration_utils import PreTrainedConfig
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput
from transformers.modeling_utils import PreTrainedModel
from transformers.models.bart.modeling_bart import BartDecoder, BartEncoder
from transformers.models.florence2.modeling_florence2 import (
    Florence2MultiModalProjector,
    Florence2VisionBackbone,
    Florence2VisionPositionalEmbeddingCosine1D,
)

from florenz.errors import FlorenzError
from florenz.models.cross_attention import CACHE_ARG, GemmaCrossDecoder
from florenz.models.presets import Preset

DECODER_KINDS = ("bart", "gemma")


class FlorenzConfig(PreTrainedConfig):
    """preset, decoder_kind, image_size, vision/text/decoder sub-config dicts, vocabulary sizes and the two
    tokenizers' special ids ({"bos", "eos", "pad"}); the decoder's ids are also the generation ids."""

    model_type = "florenz"

    preset: str = ""
    decoder_kind: str = "bart"
    image_size: int = 64
    vision: dict | None = None
    text: dict | None = None
    decoder: dict | None = None
    decoder_vocab_size: int = 0
    encoder_vocab_size: int = 0
    decoder_ids: dict | None = None
    encoder_ids: dict | None = None
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    pad_token_id: int | None = None
    decoder_start_token_id: int | None = None
    is_encoder_decoder: bool = True
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        ids = self.decoder_ids or {}
        for key in ("bos", "eos", "pad"):
            if getattr(self, f"{key}_token_id") is None and key in ids:
                setattr(self, f"{key}_token_id", ids[key])
        if self.decoder_start_token_id is None:
            self.decoder_start_token_id = self.bos_token_id
        super().__post_init__(**kwargs)

    @property
    def _attn_implementation(self):
        return self._attn_implementation_internal

    @_attn_implementation.setter
    def _attn_implementation(self, value) -> None:
        """transformers' setter (what `attn_implementation=` in `from_pretrained` / the config calls), which
        also records that it was asked for: transformers fills in its own default at model init without the
        setter, and only an asked-for kernel goes to the parts (the Gemma decoder keeps eager otherwise)."""
        PreTrainedConfig._attn_implementation.fset(self, value)
        object.__setattr__(self, "_attn_requested", value)

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.pop("_attn_requested", None)
        return out

    @property
    def vocab_size(self) -> int:
        return self.decoder_vocab_size

    def decoder_config(self) -> BartConfig | Gemma2Config:
        """The decoder's own transformers config (BART or Gemma-2) with this model's vocabulary and ids."""
        special = dict(vocab_size=self.decoder_vocab_size, pad_token_id=self.pad_token_id,
                       bos_token_id=self.bos_token_id, eos_token_id=self.eos_token_id)
        if self.decoder_kind == "bart":
            # no forced EOS: BartConfig's default (2) would reach generate() through get_text_config
            return BartConfig(**{**self.decoder, **special, "decoder_start_token_id": self.bos_token_id,
                                 "forced_eos_token_id": None})
        return Gemma2Config(**{**self.decoder, **special})

    def get_text_config(self, decoder=None, encoder=None):
        """The decoder's config: what generate() sizes its caches from."""
        return self.decoder_config()

    def description(self) -> dict:
        """The model description alone (what the old florenz.json stored), without transformers' bookkeeping."""
        keys = ("preset", "decoder_kind", "image_size", "vision", "text", "decoder", "decoder_vocab_size",
                "encoder_vocab_size", "decoder_ids", "encoder_ids")
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def from_preset(cls, preset: Preset, decoder_vocab_size: int, encoder_vocab_size: int, decoder_ids: dict,
                    encoder_ids: dict, image_size: int = 0) -> FlorenzConfig:
        """`decoder_ids` / `encoder_ids`: {"bos", "eos", "pad"} token ids of the two tokenizers."""
        dec = dict(preset.gemma if preset.decoder_kind == "gemma" else preset.text)
        return cls(preset=preset.name, decoder_kind=preset.decoder_kind, image_size=image_size or preset.image_size,
                   vision=dict(preset.vision), text=dict(preset.text), decoder=dec,
                   decoder_vocab_size=decoder_vocab_size, encoder_vocab_size=encoder_vocab_size,
                   decoder_ids=dict(decoder_ids), encoder_ids=dict(encoder_ids))


def as_config(config: FlorenzConfig | dict) -> FlorenzConfig:
    """A FlorenzConfig from itself or from a model-description dict (old florenz.json "model")."""
    return config if isinstance(config, FlorenzConfig) else FlorenzConfig(**dict(config))


@dataclass
class EncoderOutput:
    states: torch.Tensor  # (B, visual + prompt tokens, d_encoder)
    mask: torch.Tensor  # (B, visual + prompt tokens), 1 = attend


@dataclass
class DecoderOutput:
    logits: torch.Tensor
    cache: EncoderDecoderCache | DynamicCache | None = None  # with use_cache=True


def token_mean_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over the label tokens that are not -100 (labels aligned with logits)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100)


class _EncoderView:
    """What `generate()` calls as the encoder: vision tower + projector + BART encoder, one forward.

    Not a module (the parts stay where they are in the state dict); its output's `last_hidden_state`
    holds visual + prompt states, and `FlorenzModel.forward` re-derives their mask from the prompt mask."""

    main_input_name = "input_ids"

    def __init__(self, model: FlorenzModel) -> None:
        self.model = model

    def forward(self, input_ids=None, attention_mask=None, pixel_values=None, visual_tokens=None,
                return_dict=True, output_attentions=False, output_hidden_states=False) -> BaseModelOutput:
        enc = self.model.encode(pixel_values, input_ids, attention_mask, visual_tokens=visual_tokens)
        return BaseModelOutput(last_hidden_state=enc.states)

    __call__ = forward


class FlorenzModel(PreTrainedModel, GenerationMixin):
    config_class = FlorenzConfig
    base_model_prefix = "florenz"
    main_input_name = "input_ids"
    _tied_weights_keys = {"lm_head.weight": "decoder.embed_tokens.weight"}
    _supports_sdpa = True
    _supports_flash_attn = True

    def __init__(self, config: FlorenzConfig | dict) -> None:
        cfg = as_config(config)
        if cfg.decoder_kind not in DECODER_KINDS:
            raise FlorenzError(f"unknown decoder kind {cfg.decoder_kind!r}; known: {', '.join(DECODER_KINDS)}")
        super().__init__(cfg)
        vision = Florence2VisionConfig(**cfg.vision)
        text = BartConfig(**{**cfg.text, "vocab_size": cfg.encoder_vocab_size, "pad_token_id": cfg.encoder_ids["pad"]})
        self.vision_tower = Florence2VisionBackbone(vision)
        # a fresh vision config: Florence2Config resets its sub-configs' attention implementation
        proj_cfg = Florence2Config(vision_config=Florence2VisionConfig(**cfg.vision), text_config=BartConfig())
        self.projector = Florence2MultiModalProjector(proj_cfg)
        self.encoder = BartEncoder(text)
        self.decoder_config = cfg.decoder_config()
        if cfg.decoder_kind == "bart":
            self.decoder = BartDecoder(self.decoder_config)
            hidden = self.decoder_config.d_model
        else:
            self.decoder = GemmaCrossDecoder(self.decoder_config, encoder_dim=text.d_model)
            hidden = self.decoder_config.hidden_size
        self.lm_head = nn.Linear(hidden, cfg.decoder_vocab_size, bias=False)
        self.lm_head.weight = self.decoder.embed_tokens.weight  # tied, as in Florence-2 and Gemma-2
        self.post_init()
        if getattr(cfg, "_attn_requested", None):  # from_pretrained(..., attn_implementation=...) reaches the parts
            self.set_attn_implementation(cfg._attn_requested)
        else:
            from florenz.models.runtime import keep_softcap

            keep_softcap(self)

    def set_attn_implementation(self, attn_implementation: str, allow_all_kernels: bool = False) -> None:
        """One kernel for the vision tower, the encoder and the decoder (runtime.py; a soft-capped Gemma-2
        decoder refuses sdpa with a FlorenzError). Our parts are not sub-configs transformers walks."""
        from florenz.models.runtime import set_attn_implementation

        if not isinstance(attn_implementation, str):
            raise FlorenzError(f"attn_implementation must be one name for every part, got {attn_implementation!r}")
        set_attn_implementation(self, attn_implementation)
        if attn_implementation != "auto":
            self.config._attn_implementation_internal = attn_implementation  # noqa: SLF001

    def _init_weights(self, module: nn.Module) -> None:
        """The sub-models (vision tower, encoder, decoder) initialise with their own `_init_weights`; of ours,
        only the projector's cosine position table is computed (a buffer `from_pretrained` must fill)."""
        if isinstance(module, Florence2VisionPositionalEmbeddingCosine1D):  # as Florence2PreTrainedModel does
            sine, cosine = module.get_sinusoid_embeddings(max_positions=module.max_seq_len, embed_dim=module.embed_dim)
            table = torch.empty((module.max_seq_len, module.embed_dim))
            table[:, 0::2], table[:, 1::2] = sine, cosine
            init.copy_(module.pos_idx_to_embed, table)

    # -- pieces used by training, generation and evaluation ------------------------------------------------

    def get_encoder(self, modality: str | None = None) -> _EncoderView:
        return _EncoderView(self)

    def get_input_embeddings(self) -> nn.Module:
        return self.decoder.embed_tokens

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def decoder_layers(self) -> list[nn.Module]:
        """The decoder's layer modules (units for per-layer FSDP2 sharding)."""
        return list(self.decoder.layers)

    def visual_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        feats = self.vision_tower(pixel_values.to(self.projector.image_projection.weight.dtype)).last_hidden_state
        return self.projector(feats)

    def encode(self, pixel_values: torch.Tensor | None, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               visual_tokens: torch.Tensor | None = None) -> EncoderOutput:
        """Visual tokens in front of the embedded prompt, through the BART encoder. `visual_tokens`: the
        projector's output computed beforehand (a frozen tower computes each image once), instead of pixels."""
        if visual_tokens is None:
            if pixel_values is None:
                raise FlorenzError("encode: give pixel_values or visual_tokens")
            visual_tokens = self.visual_tokens(pixel_values)
        prompt = self.encoder.embed_tokens(input_ids)
        embeds = torch.cat([visual_tokens.to(prompt.dtype), prompt], dim=1)
        mask = torch.cat([attention_mask.new_ones(visual_tokens.shape[:2]), attention_mask], dim=1)
        states = self.encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        return EncoderOutput(states=states, mask=mask)

    def decode(self, decoder_input_ids: torch.Tensor, encoder: EncoderOutput | None,
               decoder_attention_mask: torch.Tensor | None = None, cache=None, use_cache: bool = False):
        """Logits (and the cache); `encoder=None` runs the decoder as a plain LM (cross-attention skipped)."""
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache()) if encoder else DynamicCache()
        out = self.decoder(
            input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
            encoder_hidden_states=encoder.states if encoder else None,
            encoder_attention_mask=encoder.mask if encoder else None, use_cache=use_cache, **{CACHE_ARG: cache},
        )
        logits = self.lm_head(out.last_hidden_state)
        cap = getattr(self.decoder_config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return DecoderOutput(logits, out[CACHE_ARG] if use_cache else None)

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        visual_tokens: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        past_key_values: EncoderDecoderCache | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> Seq2SeqLMOutput:
        """Teacher-forced logits; `labels` are aligned with `decoder_input_ids` (labels = target + [eos]).

        With `encoder_outputs` (what generate() passes) the encoder is not re-run: its states are visual +
        prompt tokens, so their mask is ones for the visual part followed by `attention_mask`. Give
        `pixel_values` or pre-computed `visual_tokens` (see `encode`).
        `past_key_values` is the cache's name before transformers 5.24 (our oldest supported release)."""
        cache = cache if cache is not None else past_key_values
        if encoder_outputs is None:
            enc = self.encode(pixel_values, input_ids, attention_mask, visual_tokens=visual_tokens)
        else:
            states = encoder_outputs[0]
            visual = states.shape[1] - attention_mask.shape[1]
            enc = EncoderOutput(states, torch.cat([attention_mask.new_ones(states.shape[0], visual),
                                                   attention_mask], dim=1))
        out = self.decode(decoder_input_ids, enc, decoder_attention_mask, cache=cache, use_cache=bool(use_cache))
        loss = token_mean_loss(out.logits, labels) if labels is not None else None
        return Seq2SeqLMOutput(loss=loss, logits=out.logits, encoder_last_hidden_state=enc.states,
                               **{CACHE_ARG: out.cache})

    def decoder_lm_loss(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The decoder alone as a language model (no encoder input, cross-attention skipped).

        `labels` are aligned with `input_ids` like in `forward` (input = [bos] + x, labels = x + [eos]); without
        labels the next token of `input_ids` is the target (positions masked out by `attention_mask` ignored).
        """
        if labels is None:
            labels = input_ids.new_full(input_ids.shape, -100)
            labels[:, :-1] = input_ids[:, 1:]
            if attention_mask is not None:
                labels[:, :-1][attention_mask[:, 1:] == 0] = -100
        return token_mean_loss(self.decode(input_ids, None, attention_mask).logits, labels)


FlorenzForConditionalGeneration = FlorenzModel  # the transformers-style name of the same class


def register_auto_classes() -> None:
    """AutoConfig / AutoModelForImageTextToText / AutoModelForSeq2SeqLM / AutoProcessor learn model_type "florenz", so
    `from_pretrained` loads a florenz directory without `trust_remote_code`. Runs when this module is imported;
    `import florenz` imports it as soon as transformers is imported (florenz/__init__.py)."""
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoModelForSeq2SeqLM, AutoProcessor

    from florenz.models.processor import FlorenzProcessor

    AutoConfig.register("florenz", FlorenzConfig, exist_ok=True)
    AutoProcessor.register(FlorenzConfig, FlorenzProcessor, exist_ok=True)
    AutoModelForImageTextToText.register(FlorenzConfig, FlorenzModel, exist_ok=True)
    AutoModelForSeq2SeqLM.register(FlorenzConfig, FlorenzModel, exist_ok=True)


register_auto_classes()
