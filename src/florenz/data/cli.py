"""`florenz data build` (describe, translate, align, shard) and `florenz data mixture` (fine-tuning data).

Models are read from local directories only; heavy imports happen inside the commands so that
`florenz --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from florenz.clitools import emit, json_option, out_option
from florenz.errors import FlorenzError
from florenz.io import check_dir_path

app = typer.Typer(help="Build real training data: describe, translate, align, shard.", no_args_is_help=True)


def _langs(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


@app.command("build")
def build(
    images: Path = typer.Option(..., "--images",
                                help="Folder of images (NAME.txt = alt-text) or of WebDataset .tar shards."),
    bitext: list[str] = typer.Option([], "--bitext",
                                     help="LANG=PATH of an English-LANG TSV (en<TAB>tgt) or JSONL; repeatable."),
    describer: Path = typer.Option(..., "--describer", help="Local transformers image-to-text model directory."),
    translator: Path = typer.Option(..., "--translator",
                                    help="Local transformers seq2seq MT directory (NLLB/M2M-style)."),
    embedder: str = typer.Option(..., "--embedder",
                                 help="Local CLIP/SigLIP directory, or open_clip:ARCH:WEIGHTS_PATH."),
    out: Path = out_option("Output dataset directory (shards + stats.json); rerun to resume."),
    caption_langs: str = typer.Option("en,de", "--caption-langs",
                                      help="Languages that get captions (must include en)."),
    top_n: int = typer.Option(4, "--top-n", help="Bitext pairs attached to each image per language."),
    chunk_size: int = typer.Option(1000, "--chunk-size", help="Images per chunk (= per shard, unit of resume)."),
    heldout_chunks: int = typer.Option(1, "--heldout-chunks", help="Leading chunks held out for evaluation."),
    seed: int = typer.Option(0, "--seed"),
    batch_size: int = typer.Option(16, "--batch-size"),
    describe_tokens: int = typer.Option(64, "--describe-tokens", help="Max new tokens per description."),
    translate_tokens: int = typer.Option(128, "--translate-tokens", help="Max new tokens per translation."),
    beams: int = typer.Option(4, "--beams", help="Beam size for description and translation."),
    describer_prompt: str = typer.Option("", "--describer-prompt", help="Task prompt, e.g. <MORE_DETAILED_CAPTION>."),
    no_context: bool = typer.Option(False, "--no-context",
                                    help="Translate sentences without the description as context."),
    max_text_chars: int = typer.Option(400, "--max-text-chars", help="Bitext sides longer than this are skipped."),
    nn_backend: str = typer.Option("torch", "--nn",
                                   help="Nearest-neighbour search: torch (blocked top-k), faiss, auto."),
    device: str = typer.Option("cpu", "--device"),
    as_json: bool = json_option(),
) -> None:
    """Run the describe/translate/align pipeline; shards + stats.json go to --out."""
    from florenz.data.pipeline.build import BuildSettings, run_build
    from florenz.data.pipeline.sources import parse_bitext_specs

    if out is None:
        raise FlorenzError("data build: --out is required")
    check_dir_path(out)
    settings = BuildSettings(
        images=str(images.resolve()), bitext={k: str(v) for k, v in parse_bitext_specs(bitext).items()},
        caption_langs=_langs(caption_langs), top_n=top_n, chunk_size=chunk_size, heldout_chunks=heldout_chunks,
        seed=seed, batch_size=batch_size, max_text_chars=max_text_chars, translate_context=not no_context,
        nn_backend=nn_backend,
    )

    def load():
        from florenz.data.pipeline.backends import HFDescriber, HFTranslator, load_embedder
        from florenz.data.pipeline.build import Backends

        return Backends(
            describer=HFDescriber(describer, max_new_tokens=describe_tokens, num_beams=beams,
                                  prompt=describer_prompt, device=device),
            translator=HFTranslator(translator, max_new_tokens=translate_tokens, num_beams=beams, device=device),
            embedder=load_embedder(embedder, batch_size=batch_size, device=device),
        )

    result = run_build(out, settings, load)
    st = result["stats"]
    emit(result, as_json, text=f"{out}: {st['records']} records from {st['images']} images; "
         f"skipped {st['skipped'] or 'none'}; chunks resumed {len(result['chunks_resumed'])}, "
         f"processed {len(result['chunks_processed'])}")


@app.command("mixture")
def mixture(
    out: Path = out_option("Output dataset directory (shards + stats.json)."),
    languages: str = typer.Option("en,de,fr,cs", "--languages", help="All languages of the mixture (must include en)."),
    multi30k: str = typer.Option("", "--multi30k", help="Multi30K root (task1/, task2/ as in multi30k/dataset)."),
    multi30k_images: str = typer.Option("", "--multi30k-images", help="Folder of the Flickr30k images."),
    karpathy: str = typer.Option("", "--karpathy", help="COCO Karpathy dataset_coco.json."),
    coco_images: str = typer.Option("", "--coco-images", help="Root holding <filepath>/<filename> of COCO images."),
    translator: Path = typer.Option(None, "--translator",
                                    help="Local seq2seq MT directory (for languages beyond en/de)."),
    max_images: int = typer.Option(0, "--max-images", help="Images per source and split (0 = all)."),
    mt_per_image: int = typer.Option(1, "--mt-per-image", help="English captions per image machine-translated."),
    translate_tokens: int = typer.Option(128, "--translate-tokens"),
    beams: int = typer.Option(4, "--beams"),
    no_context: bool = typer.Option(False, "--no-context",
                                    help="Translate captions without the image's other captions."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device"),
    as_json: bool = json_option(),
) -> None:
    """Fine-tuning mixture: Multi30K tasks 1+2, COCO Karpathy, machine translations for other languages."""
    from florenz.data.pipeline.mixture import MixtureSettings, build_mixture

    if out is None:
        raise FlorenzError("data mixture: --out is required")
    check_dir_path(out)
    s = MixtureSettings(languages=_langs(languages), multi30k=multi30k, multi30k_images=multi30k_images,
                        karpathy=karpathy, coco_images=coco_images, max_images=max_images, mt_per_image=mt_per_image,
                        translate_context=not no_context, seed=seed)
    s.validate()
    mt = None
    if translator is not None:
        from florenz.data.pipeline.backends import HFTranslator

        mt = HFTranslator(translator, max_new_tokens=translate_tokens, num_beams=beams, device=device)
    result = build_mixture(out, s, mt)
    st = result["stats"]
    emit(result, as_json, text=f"{out}: records {st['records']}; skipped {st['skipped'] or 'none'}")
