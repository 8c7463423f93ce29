"""The Florenz model: DaViT vision tower -> projection -> visual tokens + prompt -> BART encoder -> decoder.

One class serves every preset. The decoder is Florence-2's BART decoder (vocabulary re-made for Gemma-2)
or Gemma-2 with gated cross-attention (cross_attention.py). All building blocks are transformers' own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BartConfig, Florence2Config, Florence2VisionConfig, Gemma2Config
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.models.bart.modeling_bart import BartDecoder, BartEncoder
from transformers.models.florence2.modeling_florence2 import Florence2MultiModalProjector, Florence2VisionBackbone

from florenz.errors import FlorenzError
from florenz.models.cross_attention import GemmaCrossDecoder
from florenz.models.presets import Preset

DECODER_KINDS = ("bart", "gemma")


class FlorenzConfig(dict):
    """A JSON-serialisable description of a model (dict with attribute access): preset, decoder_kind,
    image_size, vision/text/decoder sub-configs, vocabulary sizes and special token ids."""

    def __getattr__(self, key: str):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    @classmethod
    def from_preset(cls, preset: Preset, decoder_vocab_size: int, encoder_vocab_size: int, decoder_ids: dict,
                    encoder_ids: dict, image_size: int = 0) -> FlorenzConfig:
        """`decoder_ids` / `encoder_ids`: {"bos", "eos", "pad"} token ids of the two tokenizers."""
        dec = dict(preset.gemma if preset.decoder_kind == "gemma" else preset.text)
        return cls(preset=preset.name, decoder_kind=preset.decoder_kind, image_size=image_size or preset.image_size,
                   vision=dict(preset.vision), text=dict(preset.text), decoder=dec,
                   decoder_vocab_size=decoder_vocab_size, encoder_vocab_size=encoder_vocab_size,
                   decoder_ids=dict(decoder_ids), encoder_ids=dict(encoder_ids))


@dataclass
class EncoderOutput:
    states: torch.Tensor  # (B, visual + prompt tokens, d_encoder)
    mask: torch.Tensor  # (B, visual + prompt tokens), 1 = attend


@dataclass
class FlorenzOutput:
    logits: torch.Tensor
    loss: torch.Tensor | None = None
    past_key_values: EncoderDecoderCache | DynamicCache | None = None


def token_mean_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over the label tokens that are not -100 (labels aligned with logits)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100)


class FlorenzModel(nn.Module):
    def __init__(self, config: dict) -> None:
        super().__init__()
        cfg = self.config = FlorenzConfig(config)
        if cfg.decoder_kind not in DECODER_KINDS:
            raise FlorenzError(f"unknown decoder kind {cfg.decoder_kind!r}; known: {', '.join(DECODER_KINDS)}")
        vision = Florence2VisionConfig(**cfg.vision)
        text = BartConfig(**{**cfg.text, "vocab_size": cfg.encoder_vocab_size, "pad_token_id": cfg.encoder_ids["pad"]})
        self.vision_tower = Florence2VisionBackbone(vision)
        # a fresh vision config: Florence2Config resets its sub-configs' attention implementation
        proj_cfg = Florence2Config(vision_config=Florence2VisionConfig(**cfg.vision), text_config=BartConfig())
        self.projector = Florence2MultiModalProjector(proj_cfg)
        self.encoder = BartEncoder(text)
        ids = cfg.decoder_ids
        special = dict(vocab_size=cfg.decoder_vocab_size, pad_token_id=ids["pad"], bos_token_id=ids["bos"],
                       eos_token_id=ids["eos"])
        if cfg.decoder_kind == "bart":
            self.decoder_config = BartConfig(**{**cfg.decoder, **special, "decoder_start_token_id": ids["bos"]})
            self.decoder = BartDecoder(self.decoder_config)
            hidden = self.decoder_config.d_model
        else:
            self.decoder_config = Gemma2Config(**{**cfg.decoder, **special})
            self.decoder = GemmaCrossDecoder(self.decoder_config, encoder_dim=text.d_model)
            hidden = self.decoder_config.hidden_size
        self.lm_head = nn.Linear(hidden, cfg.decoder_vocab_size, bias=False)
        self.lm_head.weight = self.decoder.embed_tokens.weight  # tied, as in Florence-2 and Gemma-2

    # -- pieces used by training, generation and evaluation ------------------------------------------------

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
        visual = self.visual_tokens(pixel_values) if visual_tokens is None else visual_tokens
        prompt = self.encoder.embed_tokens(input_ids)
        embeds = torch.cat([visual.to(prompt.dtype), prompt], dim=1)
        mask = torch.cat([attention_mask.new_ones(visual.shape[:2]), attention_mask], dim=1)
        states = self.encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        return EncoderOutput(states=states, mask=mask)

    def decode(
        self,
        decoder_input_ids: torch.Tensor,
        encoder: EncoderOutput | None,
        decoder_attention_mask: torch.Tensor | None = None,
        past_key_values: EncoderDecoderCache | DynamicCache | None = None,
        use_cache: bool = False,
    ) -> FlorenzOutput:
        """Decoder logits; `encoder=None` runs the decoder as a plain LM (cross-attention skipped)."""
        if use_cache and past_key_values is None:
            past_key_values = EncoderDecoderCache(DynamicCache(), DynamicCache()) if encoder else DynamicCache()
        out = self.decoder(
            input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
            encoder_hidden_states=encoder.states if encoder else None,
            encoder_attention_mask=encoder.mask if encoder else None,
            past_key_values=past_key_values, use_cache=use_cache,
        )
        logits = self.lm_head(out.last_hidden_state)
        cap = getattr(self.decoder_config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return FlorenzOutput(logits=logits, past_key_values=out.past_key_values if use_cache else None)

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        visual_tokens: torch.Tensor | None = None,
    ) -> FlorenzOutput:
        """Teacher-forced logits; `labels` are aligned with `decoder_input_ids` (labels = target + [eos]).
        Give `pixel_values` or pre-computed `visual_tokens` (see `encode`)."""
        enc = self.encode(pixel_values, input_ids, attention_mask, visual_tokens)
        out = self.decode(decoder_input_ids, enc, decoder_attention_mask)
        if labels is not None:
            out.loss = token_mean_loss(out.logits, labels)
        return out

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

    def generate(self, processor, *args, **kwargs):
        """See florenz.models.generate.generate."""
        from florenz.models.generate import generate

        return generate(self, processor, *args, **kwargs)

    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device
