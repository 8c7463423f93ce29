"""Claim: the real path runs at true size. (1) F-0.4B, built at its real architecture through the real
loading path (transformers-format checkpoints -> `florenz.models.build.build`), trains on a CPU: 3 AdamW
steps at 224 px, batch 2, 128 encoder-prompt + 128 decoder tokens; prints step times and peak RSS.
(2) From the meta device, per-GPU memory of F-3.5B and F-11.2B under FSDP2 on 8 GPUs (weights, gradients
and AdamW state for Pt sharded 8 ways; saved activations at the paper's per-device batch 32, with and
without activation checkpointing of each encoder/decoder layer).

Activations are counted, not guessed: a bf16 copy of the model runs forward on "meta" at the real shapes
and every tensor autograd saves for backward is summed (storages counted once, parameters excluded). The
checkpointed figure replaces each layer's saved tensors by its input and adds back the largest layer's
(the one being recomputed). Not counted: allocator fragmentation, NCCL buffers, the backward's transient
peak inside one op. The random F-0.4B weights live in a temporary directory deleted afterwards.

    python benchmarks/real_size_step.py [--steps 3] [--threads 2] [--dir DIR] [--skip-step] [--skip-fsdp]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gzip
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
GIB = 2**30
TOKENS = 128


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def _samples(n: int):
    from florenz.data.shards import Sample

    raw = HERE.parent.parent / "shared" / "data" / "multi30k" / "task1" / "raw"
    with gzip.open(raw / "train.en.gz", "rt", encoding="utf-8") as f:
        en = " ".join(next(f).strip() for _ in range(60))  # long enough for 128 tokens either side
    with gzip.open(raw / "train.de.gz", "rt", encoding="utf-8") as f:
        de = " ".join(next(f).strip() for _ in range(60))
    return [Sample(task="translation", lang="de", tgt=de, src=en) for _ in range(n)]


def cpu_steps(root: Path, steps: int, batch: int) -> dict:
    from PIL import Image

    from florenz.models.build import build
    from florenz.models.config import ModelConfig
    from florenz.models.freezing import apply_freezing, count_parameters

    bare = _kib("VmRSS")
    t0 = time.perf_counter()
    model, proc = build(ModelConfig(preset="F-0.4B", florence_path=str(root / "florence-community" / "Florence-2-base"),
                                    gemma_path=str(root / "google" / "gemma-2-2b"), image_size=224))
    load_s = time.perf_counter() - t0
    after_load = _kib("VmHWM")
    apply_freezing(model, "default")
    model.train()
    P, Pt = count_parameters(model)
    images = sorted((HERE.parent.parent / "shared" / "data" / "coco-mini" / "images").glob("*.jpg"))[:batch]
    b = proc.collate([Image.open(p) for p in images], _samples(batch), max_source_tokens=TOKENS,
                     max_target_tokens=TOKENS)
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=1e-4)
    times, losses = [], []
    for _ in range(steps):
        t = time.perf_counter()
        loss = model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*decay, *rest], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
        losses.append(loss.item())
    return {"P": P, "Pt": Pt, "load_s": load_s, "times": times, "losses": losses, "bare_kib": bare,
            "peak_after_load_kib": after_load, "peak_kib": _kib("VmHWM"),
            "shapes": {k: tuple(v.shape) for k, v in b.items()}}


class SavedTensors:
    """Bytes autograd saves for backward (each storage once, parameters excluded), per layer as well."""

    def __init__(self, model: torch.nn.Module, layers: list[torch.nn.Module]) -> None:
        self.params = {p.untyped_storage()._cdata for p in model.parameters()}
        self.seen: set[int] = set()
        self.total = 0
        self.per_layer: list[int] = []
        self.inputs: list[int] = []
        for layer in layers:
            layer.register_forward_pre_hook(self._enter, with_kwargs=True)
            layer.register_forward_hook(self._leave)

    def _enter(self, module, args, kwargs):
        x = args[0] if args else kwargs["hidden_states"]
        self.inputs.append(x.numel() * x.element_size())
        self.per_layer.append(-self.total)

    def _leave(self, module, args, out):
        self.per_layer[-1] += self.total

    def pack(self, t: torch.Tensor):
        s = t.untyped_storage()
        key = s._cdata
        if key not in self.params and key not in self.seen:
            self.seen.add(key)
            self.total += s.nbytes()
        return t

    @staticmethod
    def unpack(t):
        return t


@contextlib.contextmanager
def _masks_on_meta():
    """transformers skips all-ones masks by reading them (`.all()`), which meta tensors cannot answer: keep them."""
    from transformers import masking_utils

    saved = {n: getattr(masking_utils, n) for n in ("_ignore_causal_mask_sdpa", "_ignore_bidirectional_mask_sdpa")}
    for name in saved:
        setattr(masking_utils, name, lambda *a, **k: False)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(masking_utils, name, fn)


def fsdp_estimate(preset_name: str, batch: int = 32, gpus: int = 8) -> dict:
    from florenz.models.build import build_model
    from florenz.models.config import ModelConfig
    from florenz.models.freezing import apply_freezing, count_parameters

    model = apply_freezing(build_model(ModelConfig(preset=preset_name, image_size=224), device="meta"), "default")
    P, Pt = count_parameters(model)
    units = [*model.decoder_layers()]
    largest_unit = max(sum(p.numel() for p in u.parameters()) for u in units)
    model = model.to(torch.bfloat16).train()
    layers = [*model.encoder.layers, *model.decoder.layers]
    saved = SavedTensors(model, layers)
    cfg = model.config
    pixel = torch.empty(batch, 3, 224, 224, device="meta", dtype=torch.bfloat16)
    ids = torch.zeros(batch, TOKENS, dtype=torch.long, device="meta")
    mask = torch.ones(batch, TOKENS, dtype=torch.long, device="meta")
    labels = torch.zeros(batch, TOKENS, dtype=torch.long, device="meta")
    with _masks_on_meta(), torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack):
        model(pixel_values=pixel, input_ids=ids, attention_mask=mask, decoder_input_ids=ids,
              decoder_attention_mask=mask, labels=labels)
    act = saved.total
    act_ckpt = act - sum(saved.per_layer) + sum(saved.inputs) + max(saved.per_layer)
    state = {"weights (fp32, sharded)": 4 * P / gpus, "gradients (fp32, Pt, sharded)": 4 * Pt / gpus,
             "AdamW m+v (fp32, Pt, sharded)": 8 * Pt / gpus,
             "all-gathered bf16 units (current + prefetch)": 2 * 2 * largest_unit}
    return {"preset": preset_name, "P": P, "Pt": Pt, "decoder_kind": cfg.decoder_kind, "state": state,
            "activations": act, "activations_ckpt": act_ckpt, "batch": batch, "gpus": gpus,
            "total": sum(state.values()) + act, "total_ckpt": sum(state.values()) + act_ckpt}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default="", help="F-0.4B checkpoints (written if absent and kept); default: a temp dir")
    ap.add_argument("--skip-step", action="store_true")
    ap.add_argument("--skip-fsdp", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    now = datetime.datetime.now(datetime.UTC)
    print(f"# {now:%Y-%m-%d %H:%M} UTC, {platform.machine()}, torch {torch.__version__}, {args.threads} threads")
    if not args.skip_step:
        sys.path.insert(0, str(HERE))
        from true_size import write_f04b

        with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
            root = Path(args.dir or tmp)
            if not (root / "florence-community" / "Florence-2-base" / "model.safetensors").is_file():
                write_f04b(root)
            r = cpu_steps(root, args.steps, args.batch)
        print(f"F-0.4B CPU: P={r['P']:,} Pt={r['Pt']:,}; batch {args.batch}, 224 px, {TOKENS}+{TOKENS} tokens "
              f"{r['shapes']}")
        print(f"  load {r['load_s']:.1f} s; step times {', '.join(f'{t:.1f}' for t in r['times'])} s; "
              f"losses {', '.join(f'{x:.3f}' for x in r['losses'])}")
        gib = {k: r[k] / 2**20 for k in ("bare_kib", "peak_after_load_kib", "peak_kib")}
        print(f"  RSS: bare {gib['bare_kib']:.2f} GiB, peak after load {gib['peak_after_load_kib']:.2f} GiB, "
              f"peak while training {gib['peak_kib']:.2f} GiB")
    if not args.skip_fsdp:
        for name in ("F-3.5B", "F-11.2B"):
            e = fsdp_estimate(name)
            print(f"{name} FSDP2 on {e['gpus']} GPUs, per GPU (P={e['P']:,}, Pt={e['Pt']:,}, per-device batch "
                  f"{e['batch']}, 224 px, {TOKENS}+{TOKENS} tokens, bf16 compute):")
            for k, v in e["state"].items():
                print(f"  {k:<46}{v / GIB:8.2f} GiB")
            print(f"  {'saved activations, no checkpointing':<46}{e['activations'] / GIB:8.2f} GiB")
            print(f"  {'saved activations, per-layer checkpointing':<46}{e['activations_ckpt'] / GIB:8.2f} GiB")
            total = f"{e['total'] / GIB:8.2f} / {e['total_ckpt'] / GIB:.2f} GiB"
            print(f"  {'total without / with checkpointing':<46}{total}")


if __name__ == "__main__":
    main()
