"""The authors' training step (github.com/spravil/caption-via-translation, `FlorenceGemma2ForConditionalGeneration`)
at florenz's micro-gemma-s configuration, timed. `official_step.py` runs it under an interpreter with the authors'
pinned transformers (4.48.1); it imports nothing from florenz and prints one JSON line.

    python official_step_worker.py AUTHORS_REPO STEPS BATCH VOCAB TARGET_TOKENS SOURCE_TOKENS SEED
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import time
import types
from pathlib import Path

import torch


def timm_shim() -> None:
    """The authors' DaViT imports only DropPath and trunc_normal_ from timm, and timm pulls torchvision (a CUDA
    build from the registry); with drop_path_rate 0 DropPath is the identity."""
    try:
        import timm.layers  # noqa: F401
        return
    except ImportError:
        pass

    class DropPath(torch.nn.Module):
        def __init__(self, p: float = 0.0) -> None:
            super().__init__()
            assert p == 0.0, "the shim supports drop_path_rate 0 only"

        def forward(self, x):
            return x

    timm, layers = types.ModuleType("timm"), types.ModuleType("timm.layers")
    timm.__spec__ = importlib.machinery.ModuleSpec("timm", None)
    layers.__spec__ = importlib.machinery.ModuleSpec("timm.layers", None)
    layers.DropPath, layers.trunc_normal_, timm.layers = DropPath, torch.nn.init.trunc_normal_, layers
    sys.modules.update({"timm": timm, "timm.layers": layers})


def micro_config(repo: Path, vocab: int) -> dict:
    """The authors' FlorenceGemma2-large config.json with florenz's micro-gemma-s sizes (models/presets.py)."""
    cfg = json.loads((repo / "data/pretrained/FlorenceGemma2-large/config.json").read_text())
    cfg.pop("auto_map", None)
    v = cfg["vision_config"]
    v.update(drop_path_rate=0.0, patch_size=[11, 3], patch_stride=[8, 2], patch_padding=[3, 1],
             patch_prenorm=[False, True], dim_embed=[32, 64], num_heads=[2, 4], num_groups=[2, 4], depths=[1, 1],
             window_size=4, projection_dim=96)
    v["image_pos_embed"]["max_pos_embeddings"] = 16
    t = cfg["text_config"]
    t.update(d_model=96, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
             encoder_ffn_dim=192, decoder_ffn_dim=192, max_position_embeddings=256, dropout=0.0,
             attention_dropout=0.0, activation_dropout=0.0, encoder_vocab_size=vocab, vocab_size=vocab)
    t["gemma_config"].update(hidden_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                             head_dim=24, intermediate_size=288, query_pre_attn_scalar=24,
                             max_position_embeddings=256, vocab_size=vocab, encoder_hidden_size=96)
    cfg.update(projection_dim=96, vocab_size=vocab, encoder_vocab_size=vocab)
    return cfg


def paper_freezing(model) -> None:
    """As the authors' train.py `prepare_model` (freeze_vision_encoder, freeze_decoder, embeddings trained)."""
    for module in (model.vision_tower, model.image_pos_embed, model.image_proj_norm):
        for p in module.parameters():
            p.requires_grad = False
    model.image_projection.requires_grad = False
    keep = ("post_encoder_attention_layernorm", "encoder_attn_gate", "encoder_attn", "embed_tokens")
    for name, p in model.language_model.model.decoder.named_parameters():
        p.requires_grad = any(k in name for k in keep)
    model.language_model.lm_head.weight.requires_grad = True


def main() -> None:
    repo = Path(sys.argv[1])
    steps, batch, vocab, tgt_len, src_len, seed = (int(a) for a in sys.argv[2:8])
    torch.set_num_threads(1)
    timm_shim()
    sys.path.insert(0, str(repo / "src"))
    from caption_via_translation.models.gemma2 import FlorenceGemma2Config, FlorenceGemma2ForConditionalGeneration

    torch.manual_seed(seed)
    model = FlorenceGemma2ForConditionalGeneration(FlorenceGemma2Config(**micro_config(repo, vocab)))
    torch.nn.init.trunc_normal_(model.image_projection, std=0.02)  # torch.empty until init_state_dict.pt loads
    paper_freezing(model)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    data = [(torch.randn(batch, 3, 64, 64, generator=gen), torch.randint(4, vocab, (batch, src_len), generator=gen),
             torch.randint(4, vocab, (batch, tgt_len), generator=gen)) for _ in range(steps + 2)]
    for i, (px, ids, labels) in enumerate(data):
        if i == 2:  # two warm-up steps
            t0 = time.perf_counter()
        loss = model(input_ids=ids, pixel_values=px, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    sec = time.perf_counter() - t0
    print(json.dumps({"impl": "official", "seconds": sec, "params": sum(p.numel() for p in model.parameters()),
                      "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
                      "loss": float(loss.detach())}))


if __name__ == "__main__":
    main()
