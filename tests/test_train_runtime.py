"""How a model runs: activation checkpointing (same loss and gradients, layers really recomputed), the attention
kernel as a validated option with Gemma-2's soft-cap kept in force, and torch.compile of the train step."""

from __future__ import annotations

import pytest
import torch

from florenz.config import load_config
from florenz.errors import ConfigError, FlorenzError
from florenz.models.florenz import FlorenzConfig, FlorenzModel
from florenz.models.presets import get_preset
from florenz.models.runtime import attention_parts, enable_activation_checkpointing, set_attn_implementation

IDS = {"bos": 1, "eos": 2, "pad": 0}


def tiny(preset: str) -> FlorenzModel:
    torch.manual_seed(0)
    return FlorenzModel(FlorenzConfig.from_preset(get_preset(preset), 60, 60, IDS, IDS)).train()


def batch(model: FlorenzModel, b: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    s = model.config.image_size
    return {"pixel_values": torch.randn(b, 3, s, s, generator=g),
            "input_ids": torch.randint(3, 60, (b, 7), generator=g),
            "attention_mask": torch.ones(b, 7, dtype=torch.long),
            "decoder_input_ids": torch.randint(3, 60, (b, 6), generator=g),
            "decoder_attention_mask": torch.ones(b, 6, dtype=torch.long),
            "labels": torch.randint(3, 60, (b, 6), generator=g)}


def loss_and_grads(model: FlorenzModel, inputs: dict) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = model(**inputs).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("preset", ["micro-gemma-xs", "micro-bart-xs"])
def test_activation_checkpointing_keeps_loss_and_grads(preset):
    model, calls = tiny(preset), []
    inputs = batch(model)
    ref_loss, ref_grads = loss_and_grads(model, inputs)
    layers = [*model.encoder.layers, *model.decoder.layers]
    for layer in layers:  # a sub-module: the checkpoint wraps the layer's forward, its own hooks run once
        layer.self_attn.register_forward_pre_hook(lambda m, *_: calls.append(m))
    loss_and_grads(model, inputs)
    plain_calls = len(calls)
    calls.clear()
    enable_activation_checkpointing(model)
    loss, grads = loss_and_grads(model, inputs)
    assert len(calls) == 2 * plain_calls == 2 * len(layers)  # each layer ran again in the backward pass
    assert loss == ref_loss
    assert grads.keys() == ref_grads.keys()
    for name, g in grads.items():
        torch.testing.assert_close(g, ref_grads[name], rtol=0, atol=1e-7, msg=name)


def _manual_attention(q, k, v, scaling: float, cap: float | None) -> torch.Tensor:
    """softmax(cap * tanh(q k^T * scaling / cap)) v, grouped heads repeated: the Gemma-2 formula."""
    k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
    v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
    scores = q @ k.transpose(-1, -2) * scaling
    if cap:
        scores = torch.tanh(scores / cap) * cap
    return (scores.softmax(-1) @ v).transpose(1, 2)


@pytest.mark.parametrize("impl", ["auto", "eager"])
def test_gemma_softcap_stays_in_force(impl):
    """With logits far above 50, the cross- and self-attention outputs match the capped formula, not the raw one."""
    model = tiny("micro-gemma-xs").eval()
    set_attn_implementation(model, impl)
    assert model.decoder_config._attn_implementation in ("eager", "flash_attention_2", "flex_attention")
    cap = model.decoder_config.attn_logit_softcapping
    assert cap == 50.0
    layer = model.decoder.layers[0]
    with torch.no_grad():
        for lin in (layer.cross_attn.q_proj, layer.cross_attn.k_proj, layer.self_attn.q_proj, layer.self_attn.k_proj):
            lin.weight.mul_(100.0)
    g = torch.Generator().manual_seed(2)
    h, enc = torch.randn(2, 5, 48, generator=g), torch.randn(2, 9, model.decoder.encoder_dim, generator=g)
    attn = layer.cross_attn
    with torch.no_grad():
        got = attn(h, enc, None)
        q = attn.q_proj(h).view(2, 5, -1, attn.head_dim).transpose(1, 2)
        k, v = (p(enc).view(2, 9, -1, attn.head_dim).transpose(1, 2) for p in (attn.k_proj, attn.v_proj))
        want = attn.o_proj(_manual_attention(q, k, v, attn.scaling, cap).reshape(2, 5, -1))
        raw = attn.o_proj(_manual_attention(q, k, v, attn.scaling, None).reshape(2, 5, -1))
        assert (raw - want).abs().max() > 0.05 * want.abs().max()  # the cap matters at these logits
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        # self-attention (RoPE, full mask given so no kernel adds its own causal mask)
        from transformers.models.gemma2.modeling_gemma2 import apply_rotary_pos_emb

        sa = layer.self_attn
        pos = torch.arange(5)[None].expand(2, -1)
        cos, sin = model.decoder.rotary_emb(h, pos)
        mask = torch.zeros(2, 1, 5, 5)
        out, _ = sa(hidden_states=h, position_embeddings=(cos, sin), attention_mask=mask)
        q = sa.q_proj(h).view(2, 5, -1, sa.head_dim).transpose(1, 2)
        k = sa.k_proj(h).view(2, 5, -1, sa.head_dim).transpose(1, 2)
        v = sa.v_proj(h).view(2, 5, -1, sa.head_dim).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        want = sa.o_proj(_manual_attention(q, k, v, sa.scaling, cap).reshape(2, 5, -1))
        torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-5)


def test_attention_kernel_is_validated():
    model = tiny("micro-gemma-xs")
    with pytest.raises(FlorenzError, match="soft-cap"):
        set_attn_implementation(model, "sdpa")
    with pytest.raises(FlorenzError, match="attn_implementation"):
        set_attn_implementation(model, "fast")
    bart = tiny("micro-bart-xs")
    set_attn_implementation(bart, "eager")
    assert {c._attn_implementation for c in attention_parts(bart).values()} == {"eager"}
    # checked when the config is loaded, before any work
    with pytest.raises(ConfigError, match=r"attn_implementation=sdpa ignores .*soft-cap \(50\)"):
        load_config("micro", ["model.preset=micro-gemma-xs", "model.attn_implementation=sdpa"])
    with pytest.raises(ConfigError, match="model.attn_implementation"):
        load_config("micro", ["model.attn_implementation=fast"])
    with pytest.raises(ConfigError, match="train.compile"):
        load_config("micro", ["train.compile=yes"])
    assert load_config("micro", ["model.preset=micro-bart-xs", "model.attn_implementation=sdpa"])


def test_compiled_and_checkpointed_training_matches_plain(tiny_world, tmp_path):
    """A short run with torch.compile (eager backend: dynamo traces, no C compiler needed) and activation
    checkpointing logs the same losses as the plain run."""
    import json

    from florenz.train.loop import train_run
    from tests.test_train import overrides

    sets = overrides(tiny_world, **{"train.samples": 16, "train.decoder_lm_samples": 8})
    plain = train_run(load_config("micro", sets), tmp_path / "plain")
    other = train_run(load_config("micro", [*sets, "train.compile=eager", "train.activation_checkpointing=true",
                                            "model.attn_implementation=eager"]), tmp_path / "other")
    rows = [[json.loads(x)["loss"] for x in (tmp_path / d / "log.jsonl").read_text().splitlines()]
            for d in ("plain", "other")]
    assert rows[1] == pytest.approx(rows[0], abs=1e-5)
    assert other["final_loss"] == pytest.approx(plain["final_loss"], abs=1e-5)
