"""Florence-2 as Microsoft released it (`microsoft/Florence-2-base`, `-large`): read without its remote code.

Those repositories ship their own modelling code (`trust_remote_code`), a DaViT config with other field names
(`dim_embed`, `image_pos_embed.max_pos_embeddings`, ...), weights in `pytorch_model.bin` and parameter names
of that code (`vision_tower.blocks.0.0.spatial_block.conv1.fn.dw.weight`, `language_model.model.encoder...`,
`image_projection` as a bare (in, out) matrix). transformers' native `Florence2ForConditionalGeneration` is the
same network under other names; this module renames config fields and tensors to the native layout, so
`pretrained.py` reads either download unchanged. The renaming follows the table of transformers' own
conversion script (`convert_florence2_original_pytorch_to_hf.py`).
"""

from __future__ import annotations

import re

import torch

# (pattern, replacement) applied in order to every original parameter name; the result is the native name.
_RENAMES: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"^vision_tower\.convs\.(\d+)\.proj\.", r"vision_tower.convs.\1.conv."),
    (r"\.(conv1|conv2)\.fn\.dw\.", r".\1."),
    (r"\.(window_attn|channel_attn)\.norm\.", r".norm1."),
    (r"\.(window_attn|channel_attn)\.fn\.", r".\1."),
    (r"\.ffn\.norm\.", r".norm2."),
    (r"\.ffn\.fn\.net\.", r".ffn."),
    (r"^vision_tower\.", r"model.vision_tower."),
    (r"^image_projection$", r"model.multi_modal_projector.image_projection.weight"),
    (r"^image_proj_norm\.", r"model.multi_modal_projector.image_proj_norm."),
    (r"^image_pos_embed\.", r"model.multi_modal_projector.image_position_embed."),
    (r"^visual_temporal_embed\.", r"model.multi_modal_projector.visual_temporal_embed."),
    (r"^language_model\.model\.", r"model.language_model."),
    (r"^language_model\.lm_head\.weight$", r"lm_head.weight"),
))
TRANSPOSED = "image_projection"  # a bare (in, out) parameter in the original, an nn.Linear (out, in) natively


def is_original(config: dict, names) -> bool:
    """True for Microsoft's remote-code layout: DaViT's `dim_embed` in the config or un-prefixed tensor names."""
    if "dim_embed" in config.get("vision_config", {}):
        return True
    return any(n.startswith(("vision_tower.", "language_model.model.")) for n in names)


def native_name(name: str) -> str:
    for pattern, replacement in _RENAMES:
        name = pattern.sub(replacement, name)
    return name


def native_tensor(original_name: str, tensor: torch.Tensor) -> torch.Tensor:
    return tensor.t() if original_name == TRANSPOSED else tensor


def native_config(config: dict) -> dict:
    """The original config.json with its vision part in `Florence2VisionConfig`'s field names."""
    vision = dict(config.get("vision_config", {}))
    if "dim_embed" in vision:
        vision["embed_dim"] = vision.pop("dim_embed")
    temporal = vision.pop("visual_temporal_embedding", None) or {}
    if "max_temporal_embeddings" in temporal:
        vision["max_temporal_embeddings"] = temporal["max_temporal_embeddings"]
    position = vision.pop("image_pos_embed", None) or {}
    if "max_pos_embeddings" in position:
        vision["max_position_embeddings"] = position["max_pos_embeddings"]
    vision.setdefault("projection_dim", config.get("projection_dim"))
    return {**config, "vision_config": vision}
