"""Gated cross-attention inserted into every Gemma-2 decoder layer (the paper's F-3.5B / F-11.2B).

Per layer, after self-attention and before the MLP: ``h = h + tanh(g) * norm_x(CrossAttn(q=h, kv=enc))``
with ``g`` a scalar initialised to 0 (so the insertion is a no-op at init) and ``norm_x`` an RMSNorm
initialised as a copy of the layer's post-attention norm. The attention itself is transformers' Gemma-2
attention kernel (grouped-query heads, logit soft-cap) without RoPE and without a sliding window.
Cross keys/values are cached once per input in an ``EncoderDecoderCache`` like BART's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from transformers import Gemma2Config, Gemma2Model
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import BaseModelOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.gemma2.modeling_gemma2 import Gemma2DecoderLayer, Gemma2RMSNorm, eager_attention_forward

CROSS_PARAM_MARKERS = ("cross_attn.", "cross_norm.", "cross_gate")  # names of the new blocks' parameters
# The keyword (and output field) transformers passes the key/value cache under: "cache" from 5.24 on,
# "past_key_values" before (removed in 5.40). One name, read once, so no call site warns or breaks.
CACHE_ARG = "cache" if "cache" in BaseModelOutputWithPast.__dataclass_fields__ else "past_key_values"


class GemmaCrossAttention(nn.Module):
    """q from the decoder, k/v from the encoder; Gemma's head layout and soft-cap, no RoPE."""

    def __init__(self, config: Gemma2Config, layer_idx: int, encoder_dim: int) -> None:
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = config.head_dim
        self.num_key_value_groups = config.num_attention_heads // config.num_key_value_heads
        self.scaling = config.query_pre_attn_scalar**-0.5
        self.is_causal = False
        self.softcap = config.attn_logit_softcapping
        q_dim, kv_dim = config.num_attention_heads * self.head_dim, config.num_key_value_heads * self.head_dim
        self.q_proj = nn.Linear(config.hidden_size, q_dim, bias=False)
        self.k_proj = nn.Linear(encoder_dim, kv_dim, bias=False)
        self.v_proj = nn.Linear(encoder_dim, kv_dim, bias=False)
        self.o_proj = nn.Linear(q_dim, config.hidden_size, bias=False)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_states: torch.Tensor,
        encoder_mask: torch.Tensor | None,
        cache: EncoderDecoderCache | None = None,
    ) -> torch.Tensor:
        shape = (*hidden_states.shape[:-1], -1, self.head_dim)
        query = self.q_proj(hidden_states).view(shape).transpose(1, 2)
        if cache is not None and cache.is_updated.get(self.layer_idx):
            layer = cache.cross_attention_cache.layers[self.layer_idx]
            key, value = layer.keys, layer.values
        else:
            kv_shape = (*encoder_states.shape[:-1], -1, self.head_dim)
            key = self.k_proj(encoder_states).view(kv_shape).transpose(1, 2)
            value = self.v_proj(encoder_states).view(kv_shape).transpose(1, 2)
            if cache is not None:  # computed once per input, re-used for every generated token
                key, value = cache.cross_attention_cache.update(key, value, self.layer_idx)
                cache.is_updated[self.layer_idx] = True
        impl = self.config._attn_implementation
        attend: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(impl, eager_attention_forward)
        out, _ = attend(self, query, key, value, encoder_mask, dropout=0.0, scaling=self.scaling, softcap=self.softcap)
        return self.o_proj(out.reshape(*hidden_states.shape[:-1], -1).contiguous())


class GemmaCrossLayer(Gemma2DecoderLayer):
    """A Gemma-2 decoder layer plus the gated cross-attention block between self-attention and MLP.

    The forward re-composes the parent's sub-modules (self_attn, norms, mlp) because the new block must sit
    in the middle of the layer; without encoder states it is exactly the parent layer.
    """

    def __init__(self, config: Gemma2Config, layer_idx: int, encoder_dim: int) -> None:
        super().__init__(config, layer_idx)
        self.cross_attn = GemmaCrossAttention(config, layer_idx, encoder_dim)
        self.cross_norm = Gemma2RMSNorm(config.hidden_size, eps=config.rms_norm_eps)  # the paper's norm_x
        self.cross_gate = nn.Parameter(torch.zeros(()))

    @torch.no_grad()
    def reset_cross_block(self) -> None:
        """g = 0 and norm_x = copy of the post-attention norm (call after loading Gemma weights)."""
        self.cross_gate.zero_()
        self.cross_norm.weight.copy_(self.post_attention_layernorm.weight)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        cross_cache: EncoderDecoderCache | None = None,
        **kwargs,
    ) -> torch.Tensor:
        """`kwargs` carry the self-attention cache under transformers' name for it (CACHE_ARG)."""
        residual = hidden_states
        attn, _ = self.self_attn(
            hidden_states=self.input_layernorm(hidden_states), position_embeddings=position_embeddings,
            attention_mask=attention_mask, position_ids=position_ids, **kwargs,
        )
        hidden_states = residual + self.post_attention_layernorm(attn)
        if encoder_hidden_states is not None:
            cross = self.cross_attn(hidden_states, encoder_hidden_states, encoder_attention_mask, cross_cache)
            hidden_states = hidden_states + torch.tanh(self.cross_gate).to(cross.dtype) * self.cross_norm(cross)
        mlp = self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(hidden_states)))
        return hidden_states + mlp


class GemmaCrossDecoder(Gemma2Model):
    """Gemma2Model whose layers are GemmaCrossLayer; runs as a plain LM when no encoder states are given."""

    def __init__(self, config: Gemma2Config, encoder_dim: int) -> None:
        super().__init__(config)
        self.encoder_dim = encoder_dim
        self.layers = nn.ModuleList(GemmaCrossLayer(config, i, encoder_dim) for i in range(config.num_hidden_layers))
        self.post_init()
        self.reset_cross_blocks()

    def reset_cross_blocks(self) -> None:
        for layer in self.layers:
            layer.reset_cross_block()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        use_cache: bool = False,
        **kwargs,
    ):
        """Split an EncoderDecoderCache (passed as kwargs[CACHE_ARG]): Gemma's own forward sees the
        self-attention half only. The cross half must be a plain DynamicCache: a sliding-window layer (what
        generate() builds from Gemma-2's config) would keep only the last window of the encoder states."""
        cache = kwargs.pop(CACHE_ARG, None)
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        cross_cache = cache if isinstance(cache, EncoderDecoderCache) else None
        self_cache = cross_cache.self_attention_cache if cross_cache is not None else cache
        if cross_cache is not None and not any(cross_cache.is_updated.values()):
            cross_cache.cross_attention_cache = DynamicCache()
        if encoder_hidden_states is not None:
            embeds = self.embed_tokens.weight.new_empty(input_ids.shape[0], input_ids.shape[1], 1)
            encoder_attention_mask = create_bidirectional_mask(
                config=self.config, inputs_embeds=embeds, attention_mask=encoder_attention_mask,
                encoder_hidden_states=encoder_hidden_states,
            )
        out = super().forward(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=use_cache, **{CACHE_ARG: self_cache},
            encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=encoder_attention_mask,
            cross_cache=cross_cache, **kwargs,
        )
        if cross_cache is not None:
            out[CACHE_ARG] = cross_cache
        return out
