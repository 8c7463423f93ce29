"""`florenz models`: every preset with its decoder kind, P and Pt (default freezing), counted on meta;
`florenz convert`: an old checkpoint directory to transformers' layout."""

from __future__ import annotations

import typer

from florenz.clitools import emit, json_option

MICRO_VOCAB = 1500  # micro presets take their vocabulary from the data; list them at a typical size


def preset_rows() -> list[dict]:
    from florenz.models.build import build_from_config
    from florenz.models.florenz import FlorenzConfig
    from florenz.models.freezing import apply_freezing, count_parameters
    from florenz.models.presets import PRESETS

    rows = []
    ids = {"pad": 0, "bos": 1, "eos": 2}
    for p in PRESETS.values():
        config = FlorenzConfig.from_preset(p, p.decoder_vocab_size or MICRO_VOCAB, p.encoder_vocab_size or MICRO_VOCAB,
                                           ids, ids)
        model = apply_freezing(build_from_config(config, device="meta"), "default")
        total, trainable = count_parameters(model)
        rows.append({"name": p.name, "decoder_kind": p.decoder_kind, "params": total, "trainable_params": trainable,
                     "image_size": p.image_size, "micro": p.micro, "about": p.about})
    return rows


def models(as_json: bool = json_option()) -> None:
    """List the model presets with their parameter counts P and Pt (counted on the meta device)."""
    rows = preset_rows()
    lines = [f"{'preset':<16}{'decoder':<8}{'P':>16}{'Pt':>16}  image"]
    lines += [f"{r['name']:<16}{r['decoder_kind']:<8}{r['params']:>16,}{r['trainable_params']:>16,}  {r['image_size']}"
              + ("  (micro: vocab from the data, counted at 1500)" if r["micro"] else "") for r in rows]
    emit(rows, as_json, "\n".join(lines))


def convert(old: str = typer.Argument(..., help="an old model directory (florenz.json + model.safetensors)"),
            new: str = typer.Argument(..., help="where to write it in transformers' layout (config.json ...)")) -> None:
    """Rewrite a checkpoint from before issue 16 so that from_pretrained and the Auto classes load it."""
    from florenz.models.checkpoint import convert as convert_dir

    print(f"converted {old} -> {convert_dir(old, new)}")
