"""Real-weight loading from local transformers checkpoints, and the BART -> Gemma vocabulary remap."""

from __future__ import annotations

import gzip

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    BartConfig,
    Florence2Config,
    Florence2ForConditionalGeneration,
    Florence2VisionConfig,
    Gemma2Config,
    Gemma2ForCausalLM,
    PreTrainedTokenizerFast,
)

from florenz.errors import FlorenzError
from florenz.models.build import build_model
from florenz.models.config import ModelConfig
from florenz.models.pretrained import load_pretrained
from florenz.models.vocab_remap import remap_embedding


@pytest.fixture(scope="module")
def texts(shared_data):
    path = shared_data / "multi30k" / "task1" / "raw" / "test_2016_flickr.en.gz"
    return gzip.open(path, "rt", encoding="utf-8").read().splitlines()[:500]


@pytest.fixture(scope="module")
def gemma_tok(texts):
    """A Metaspace ("▁") BPE standing in for Gemma-2's tokenizer (ids: pad 0, eos 1, bos 2, unk 3)."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<eos>", "<bos>",
                                                                                         "<unk>", "<mask>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                   unk_token="<unk>", mask_token="<mask>")


@pytest.fixture(scope="module")
def bart_tok(texts):
    """A byte-level BPE standing in for BART's (ids: <s> 0, <pad> 1, </s> 2, <unk> 3)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=350, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>")


def test_remapped_rows_are_means_of_bart_rows(gemma_tok, bart_tok):
    weight = torch.randn(len(bart_tok), 8)
    new = remap_embedding(weight, gemma_tok, bart_tok, generator=torch.Generator().manual_seed(0))
    assert new.shape == (len(gemma_tok), 8)
    for name in ("bos", "eos", "unk", "pad"):
        g, b = getattr(gemma_tok, f"{name}_token_id"), getattr(bart_tok, f"{name}_token_id")
        assert torch.equal(new[g], weight[b])
    checked = 0
    for gid, token in enumerate(gemma_tok.convert_ids_to_tokens(list(range(len(gemma_tok))))):
        if gid in gemma_tok.all_special_ids:
            continue
        bart_ids = bart_tok(token.replace("▁", " "), add_special_tokens=False)["input_ids"]
        assert bart_ids, token
        assert torch.allclose(new[gid], weight[bart_ids].mean(0), atol=1e-6), token
        checked += 1
    assert checked > 300
    mask_row = new[gemma_tok.mask_token_id]  # a special token without a BART match: N(0, 0.02)
    assert mask_row.abs().max() < 0.2 and not any(torch.equal(mask_row, w) for w in weight)


def _florence_dir(tmp_path, bart_tok):
    vision = Florence2VisionConfig(depths=[1, 1], patch_size=[7, 3], patch_stride=[4, 2], patch_padding=[3, 1],
                                   patch_prenorm=[False, True], embed_dim=[16, 32], num_heads=[1, 2],
                                   num_groups=[1, 2], window_size=4, projection_dim=32, drop_path_rate=0.0)
    text = BartConfig(vocab_size=len(bart_tok), d_model=32, encoder_layers=1, decoder_layers=1,
                      encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                      max_position_embeddings=128)
    model = Florence2ForConditionalGeneration(Florence2Config(vision_config=vision, text_config=text))
    model.save_pretrained(tmp_path / "florence")
    bart_tok.save_pretrained(tmp_path / "florence")
    return model


def _gemma_dir(tmp_path, gemma_tok):
    cfg = Gemma2Config(vocab_size=len(gemma_tok), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16,
                       max_position_embeddings=128)
    model = Gemma2ForCausalLM(cfg)
    with torch.no_grad():  # non-zero norms so that "norm_x = copy of post-attention norm" is visible
        for layer in model.model.layers:
            layer.post_attention_layernorm.weight.normal_()
    model.save_pretrained(tmp_path / "gemma")
    gemma_tok.save_pretrained(tmp_path / "gemma")
    return model


def test_load_gemma_kind_from_local_checkpoints(tmp_path, gemma_tok, bart_tok):
    florence = _florence_dir(tmp_path, bart_tok)
    gemma = _gemma_dir(tmp_path, gemma_tok)
    cfg = ModelConfig(preset="F-3.5B", florence_path=str(tmp_path / "florence"), gemma_path=str(tmp_path / "gemma"),
                      image_size=64)
    model, proc = load_pretrained(cfg)
    fs, gs = florence.state_dict(), gemma.state_dict()
    assert torch.equal(model.vision_tower.convs[0].conv.weight, fs["model.vision_tower.convs.0.conv.weight"])
    proj = fs["model.multi_modal_projector.image_projection.weight"]
    assert torch.equal(model.projector.image_projection.weight, proj)
    assert torch.equal(model.encoder.layers[0].fc1.weight, fs["model.language_model.encoder.layers.0.fc1.weight"])
    assert torch.equal(model.encoder.embed_tokens.weight, fs["model.language_model.shared.weight"])
    assert torch.equal(model.decoder.layers[1].mlp.up_proj.weight, gs["model.layers.1.mlp.up_proj.weight"])
    assert model.lm_head.weight is model.decoder.embed_tokens.weight
    for layer in model.decoder.layers:
        assert layer.cross_gate.item() == 0.0
        assert torch.equal(layer.cross_norm.weight, layer.post_attention_layernorm.weight)
    ids = torch.tensor([[gemma_tok.bos_token_id, 10, 11, 12]])
    enc_states = torch.randn(1, 5, 32)
    ours = model.decode(ids, type("E", (), {"states": enc_states, "mask": torch.ones(1, 5, dtype=torch.long)})())
    assert torch.allclose(ours.logits, gemma.eval()(ids).logits, atol=1e-5)  # insertion is a no-op at init
    assert proc.image_size == 64 and proc.decoder_tokenizer.bos_token_id == gemma_tok.bos_token_id


def test_load_bart_kind_remaps_decoder_vocab(tmp_path, gemma_tok, bart_tok):
    florence = _florence_dir(tmp_path, bart_tok)
    (tmp_path / "gemma_tok").mkdir()
    gemma_tok.save_pretrained(tmp_path / "gemma_tok")
    cfg = ModelConfig(preset="F-0.4B", florence_path=str(tmp_path / "florence"),
                      tokenizer_path=str(tmp_path / "gemma_tok"))
    model = build_model(cfg)
    shared = florence.state_dict()["model.language_model.shared.weight"]
    assert model.decoder.embed_tokens.weight.shape == (len(gemma_tok), 32)
    assert torch.equal(model.encoder.embed_tokens.weight, shared)  # encoder embeddings stay as they are
    assert torch.equal(model.decoder.embed_tokens.weight[gemma_tok.eos_token_id], shared[bart_tok.eos_token_id])
    fc1 = florence.state_dict()["model.language_model.decoder.layers.0.fc1.weight"]
    assert torch.equal(model.decoder.layers[0].fc1.weight, fc1)


def test_missing_and_mismatched_weights_are_named(tmp_path, gemma_tok, bart_tok):
    _florence_dir(tmp_path, bart_tok)
    gemma = _gemma_dir(tmp_path, gemma_tok)
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in gemma.state_dict().items()
             if "layers.1.mlp.down_proj" not in k and k != "lm_head.weight"}
    state["model.layers.0.mlp.up_proj.weight"] = torch.zeros(3, 3)
    save_file(state, str(tmp_path / "gemma" / "model.safetensors"))
    cfg = ModelConfig(preset="F-3.5B", florence_path=str(tmp_path / "florence"), gemma_path=str(tmp_path / "gemma"))
    with pytest.raises(FlorenzError, match=r"missing weights: decoder.layers.1.mlp.down_proj.weight"):
        load_pretrained(cfg)
    state["model.layers.1.mlp.down_proj.weight"] = gemma.state_dict()["model.layers.1.mlp.down_proj.weight"]
    save_file(state, str(tmp_path / "gemma" / "model.safetensors"))
    with pytest.raises(FlorenzError, match=r"shape-mismatched weights: decoder.layers.0.mlp.up_proj.weight \(3, 3\)"):
        load_pretrained(cfg)
