"""Model presets: the paper's four sizes and the CPU-sized micro presets, on one code path.

Real presets use the architecture hyper-parameters of Florence-2-base/-large (DaViT vision tower,
BART-style text encoder/decoder) and Gemma-2-2b/-9b. Parts in millions, counted on the meta device
(`florenz models`, tests/test_models_presets.py):

    preset   vision+proj  encoder (its emb)  decoder layers  decoder emb (= tied head)  new blocks   total P
    F-0.4B      91.2       82.7 (39.4)          57.5            196.6 (256k x 768)         0         428.0
    F-1.0B     362.8      204.7 (52.5)         202.6            262.1 (256k x 1024)        0        1032.3
    F-3.5B     362.8      204.7 (52.5)        2024.5            589.8 (256k x 2304)      300.0      3481.9
    F-11.2B    362.8      204.7 (52.5)        8324.2            917.5 (256k x 3584)     1409.4     11218.7

New blocks per Gemma layer: q (d -> heads*256), k/v (1024 -> kv_heads*256), o, norm_x (d), gate (1):
26 x 11.5M for gemma-2-2b, 42 x 33.6M for gemma-2-9b. F-3.5B and F-11.2B are within 0.6 % of their
names. F-0.4B / F-1.0B come out at 0.428B / 1.032B because, as the issue asks, the encoder keeps its own
51,289-row BART embedding next to the decoder's new 256k-row one; counting a single (shared, remapped)
embedding, as Florence-2's tied `shared` matrix would give, yields 0.389B / 0.980B, which is what the
paper's names match (within 3 %). Micro presets are random-init, take their vocabulary from the data's
tokenizer, and run at 64 x 64 px with a two-stage DaViT (4 x 4 + 1 = 17 visual tokens; 8 x 8 + 1 for -m).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from florenz.errors import FlorenzError

# transformers' native Florence-2 checkpoints (microsoft/Florence-2-* hold remote-code weights), and Gemma-2
FLORENCE_BASE, FLORENCE_LARGE = "florence-community/Florence-2-base", "florence-community/Florence-2-large"
GEMMA_2B, GEMMA_9B = "google/gemma-2-2b", "google/gemma-2-9b"
GEMMA_VOCAB = 256_000  # Gemma-2 tokenizer; the Florence decoder's vocabulary is remapped to it
BART_VOCAB = 51_289  # Florence-2's BART tokenizer (+ location tokens); the encoder keeps it


@dataclass(frozen=True)
class Preset:
    name: str
    decoder_kind: str  # "bart" (Florence-2's own decoder) or "gemma" (Gemma-2 + cross-attention)
    vision: dict  # Florence2VisionConfig kwargs
    text: dict  # BartConfig kwargs of Florence-2's language model (encoder; also the decoder for "bart")
    gemma: dict = field(default_factory=dict)  # Gemma2Config kwargs ("gemma" kind)
    image_size: int = 768
    decoder_vocab_size: int = GEMMA_VOCAB  # 0 = take from the tokenizer (micro)
    encoder_vocab_size: int = BART_VOCAB
    micro: bool = False
    about: str = ""
    # Hub repositories (ORG/NAME under model.hub_dir) of the Florence-2 and Gemma-2 checkpoints. The BART kind
    # reads only the Gemma-2 tokenizer from its Gemma repository (the vocabulary its decoder is remapped to).
    checkpoints: tuple[str, str] = ("", "")


def _davit(dims: tuple[int, ...], heads: tuple[int, ...], depths: tuple[int, ...], proj: int, **kw) -> dict:
    n = len(dims)
    full = dict(depths=(1, 1, 9, 1), patch_size=(7, 3, 3, 3), patch_stride=(4, 2, 2, 2), patch_padding=(3, 1, 1, 1),
                patch_prenorm=(False, True, True, True))
    cfg = {k: list(v[:n]) for k, v in full.items()}
    cfg.update(depths=list(depths), embed_dim=list(dims), num_heads=list(heads), num_groups=list(heads),
               projection_dim=proj, window_size=12, drop_path_rate=0.1)
    cfg.update(kw)
    return cfg


def _bart(d: int, layers: int, heads: int, ffn: int, **kw) -> dict:
    cfg = dict(d_model=d, encoder_layers=layers, decoder_layers=layers, encoder_attention_heads=heads,
               decoder_attention_heads=heads, encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, max_position_embeddings=1024,
               dropout=0.1, scale_embedding=False, activation_function="gelu")
    cfg.update(kw)
    return cfg


def _gemma(hidden: int, layers: int, heads: int, kv: int, head_dim: int, inter: int, **kw) -> dict:
    cfg = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
               head_dim=head_dim, intermediate_size=inter, query_pre_attn_scalar=head_dim, sliding_window=4096,
               attn_logit_softcapping=50.0, final_logit_softcapping=30.0, max_position_embeddings=8192)
    cfg.update(kw)
    return cfg


_VISION_BASE = _davit((128, 256, 512, 1024), (4, 8, 16, 32), (1, 1, 9, 1), proj=768)
_VISION_LARGE = _davit((256, 512, 1024, 2048), (8, 16, 32, 64), (1, 1, 9, 1), proj=1024)
_TEXT_BASE = _bart(768, 6, 12, 3072)
_TEXT_LARGE = _bart(1024, 12, 16, 4096)


def _micro_vision(dims: tuple[int, int], heads: tuple[int, int], proj: int, stride: int = 8) -> dict:
    """Two DaViT stages at 64 px: stride 8 -> 8 x 8, then 2 -> 4 x 4 = 16 patches (+1 temporal token);
    stride 4 gives 8 x 8 = 64 patches. Few visual tokens keep the encoder cheap on a 2-core CPU."""
    return _davit(dims, heads, (1, 1), proj=proj, window_size=4, drop_path_rate=0.0, max_position_embeddings=16,
                  patch_stride=[stride, 2], patch_size=[stride + 3 if stride > 4 else 7, 3])


def _micro_text(d: int, layers: int, heads: int) -> dict:
    return _bart(d, layers, heads, 2 * d, max_position_embeddings=256, dropout=0.0)


def _micro_gemma(hidden: int, layers: int, heads: int, kv: int, head_dim: int) -> dict:
    return _gemma(hidden, layers, heads, kv, head_dim, 3 * hidden, max_position_embeddings=256)


_MICRO = dict(image_size=64, decoder_vocab_size=0, encoder_vocab_size=0, micro=True)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("F-0.4B", "bart", _VISION_BASE, _TEXT_BASE, about="Florence-2-base, BART decoder, Gemma-2 vocab",
               checkpoints=(FLORENCE_BASE, GEMMA_2B)),
        Preset("F-1.0B", "bart", _VISION_LARGE, _TEXT_LARGE, about="Florence-2-large, BART decoder, Gemma-2 vocab",
               checkpoints=(FLORENCE_LARGE, GEMMA_2B)),
        Preset("F-3.5B", "gemma", _VISION_LARGE, _TEXT_LARGE, _gemma(2304, 26, 8, 4, 256, 9216),
               about="Florence-2-large vision+encoder, gemma-2-2b decoder + cross-attention",
               checkpoints=(FLORENCE_LARGE, GEMMA_2B)),
        Preset("F-11.2B", "gemma", _VISION_LARGE, _TEXT_LARGE, _gemma(3584, 42, 16, 8, 256, 14336),
               about="Florence-2-large vision+encoder, gemma-2-9b decoder + cross-attention",
               checkpoints=(FLORENCE_LARGE, GEMMA_9B)),
        Preset("micro-bart-xxs", "bart", _micro_vision((16, 32), (1, 2), 32), _micro_text(32, 1, 2), **_MICRO),
        Preset("micro-bart-xs", "bart", _micro_vision((16, 32), (1, 2), 48), _micro_text(48, 1, 2), **_MICRO),
        Preset("micro-bart-s", "bart", _micro_vision((32, 64), (2, 4), 96), _micro_text(96, 2, 4), **_MICRO),
        Preset("micro-bart-m", "bart", _micro_vision((64, 128), (2, 4), 192), _micro_text(192, 3, 4),
               **_MICRO),
        Preset("micro-gemma-xxs", "gemma", _micro_vision((16, 32), (1, 2), 32), _micro_text(32, 1, 2),
               _micro_gemma(32, 1, 2, 1, 16), **_MICRO),
        Preset("micro-gemma-xs", "gemma", _micro_vision((16, 32), (1, 2), 48), _micro_text(48, 1, 2),
               _micro_gemma(48, 1, 2, 1, 24), **_MICRO),
        Preset("micro-gemma-s", "gemma", _micro_vision((32, 64), (2, 4), 96), _micro_text(96, 2, 4),
               _micro_gemma(96, 2, 4, 2, 24), **_MICRO),
        Preset("micro-gemma-m", "gemma", _micro_vision((64, 128), (2, 4), 192), _micro_text(192, 3, 4),
               _micro_gemma(192, 3, 4, 2, 48), **_MICRO),
    )
}

PAPER_SIZES = {"F-0.4B": 0.4e9, "F-1.0B": 1.0e9, "F-3.5B": 3.5e9, "F-11.2B": 11.2e9}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise FlorenzError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}") from None
