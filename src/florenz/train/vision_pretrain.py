"""The vision pre-training stage: the micro world's stand-in for Florence-2's pre-trained DaViT tower.

In the paper the vision tower comes pre-trained from Florence-2 (English-only supervision: captions,
region descriptions, object detection with location tokens) and stays frozen. A micro model's tower is
random-init, so before the decoder-LM and vision-language stages this stage trains the vision tower and
projector on *other* renders of the same world (their own seed stream; scenes never held out) with
Florence-2's detection task in classification form: for every object slot (objects ordered left to
right) its English class words (shape, colour, size, or "no object") and its quantised location
(Florence-2's location tokens, here `LOC_BINS` bins per axis). A throw-away linear head reads the
visual tokens; only the tower and projector are kept.

The stage is cached per (world, model preset config, its seed, settings) like the decoder-LM stage, runs
under its own RNG (the run's RNG stream is the same whether the cache hits or not), and its cost is
written to `vision_pretrain.json` in the run directory, which `annotate_result` copies into result.json
beside C (not inside it: the paper's C excludes Florence-2's pre-training too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from florenz.config import Config
from florenz.errors import FlorenzError
from florenz.io import read_json, write_json
from florenz.train.compute import forward_flops_per_sample, training_compute
from florenz.train.schedule import CosineSchedule, set_lr

INFO_FILE = "vision_pretrain.json"
LOC_BINS = 4  # location tokens per axis (Florence-2 uses 1000 bins; the micro world needs few)
_SPLIT_ID = 7  # the stage's seed stream, disjoint from the world's train (0) and held-out (1) splits
_EVAL_IMAGES = 256  # last images of the set: the stage's own held-out check of what the tower learned


@dataclasses.dataclass(frozen=True)
class Heads:
    """Classes per slot field: shape (+ "no object"), colour, size, x bin, y bin."""

    shapes: int
    colors: int
    sizes: int
    slots: int

    @property
    def fields(self) -> list[int]:
        return [self.shapes + 1, self.colors, self.sizes, LOC_BINS, LOC_BINS]


def check_settings(t, world_size: int) -> None:
    """Fail before any work on settings the stage cannot run with (`t`: the [train] section)."""
    if t.vision_pretrain_samples < 0:
        raise FlorenzError(f"train.vision_pretrain_samples must be >= 0, got {t.vision_pretrain_samples}")
    if t.vision_pretrain_batch_size <= 0 or t.vision_pretrain_lr <= 0:
        raise FlorenzError("train.vision_pretrain_batch_size and train.vision_pretrain_lr must be positive")
    if t.vision_pretrain_images < t.vision_pretrain_batch_size + 5:
        raise FlorenzError(f"train.vision_pretrain_images ({t.vision_pretrain_images}) must exceed "
                           f"train.vision_pretrain_batch_size ({t.vision_pretrain_batch_size}) + 5")
    if world_size > 1:
        raise FlorenzError("train.vision_pretrain_samples is for single-process micro runs; unset it under torchrun")


def world_settings(data_dir: Path):
    """The WorldConfig the dataset was built from (stats.json), so the stage sees the study's world."""
    from florenz.data.shards import read_stats
    from florenz.world.config import WorldConfig

    settings = read_stats(data_dir).get("settings")
    if not isinstance(settings, dict) or "max_objects" not in settings:
        raise FlorenzError(f"train.vision_pretrain_samples > 0 needs a micro-world dataset; {data_dir} has no world "
                           "settings in stats.json")
    known = {f.name for f in dataclasses.fields(WorldConfig)}
    return WorldConfig(**{k: v for k, v in settings.items() if k in known})


def render_set(world, n: int) -> tuple[np.ndarray, np.ndarray, Heads]:
    """n images [n, H, W, 3] uint8 and labels [n, slots, 5] (-100 where a field does not apply)."""
    from florenz.world.build import heldout_contents
    from florenz.world.render import layout, render
    from florenz.world.scene import COLORS, SHAPES, SIZES, sample_content, scene_key

    held = {scene_key(c) for c in heldout_contents(world)}
    heads = Heads(len(SHAPES), len(COLORS), len(SIZES), world.max_objects)
    images = np.zeros((n, world.image_size, world.image_size, 3), dtype=np.uint8)
    labels = np.full((n, heads.slots, 5), -100, dtype=np.int64)
    for i in range(n):
        rng = np.random.default_rng([world.seed, _SPLIT_ID, i])
        scene = None
        while scene is None:
            c = sample_content(rng, world.min_objects, world.max_objects)
            if scene_key(c) not in held:
                scene = layout(c, rng, world.image_size, world.small_radius, world.large_radius)
        images[i] = render(scene, world.image_size, world.noise, rng)
        objs = sorted(scene["objects"], key=lambda o: (o["x"], o["y"]))
        labels[i, :, 0] = len(SHAPES)  # "no object" unless filled below
        for k, o in enumerate(objs):
            bx = min(LOC_BINS - 1, int(o["x"] / world.image_size * LOC_BINS))
            by = min(LOC_BINS - 1, int(o["y"] / world.image_size * LOC_BINS))
            labels[i, k] = [SHAPES.index(o["shape"]), COLORS.index(o["color"]), SIZES.index(o["size"]), bx, by]
    return images, labels, heads


class DetectionHead(nn.Module):
    """Visual tokens [B, N, D] -> per slot and field logits; thrown away after the stage."""

    def __init__(self, tokens: int, dim: int, heads: Heads, hidden: int = 256) -> None:
        super().__init__()
        self.heads = heads
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(tokens * dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, heads.slots * sum(heads.fields)))

    def forward(self, visual: torch.Tensor) -> list[torch.Tensor]:
        out = self.net(visual).view(visual.shape[0], self.heads.slots, -1)
        return list(torch.split(out, self.heads.fields, dim=-1))


def detection_loss(logits: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    return sum(F.cross_entropy(lg.reshape(-1, lg.shape[-1]), labels[..., j].reshape(-1), ignore_index=-100)
               for j, lg in enumerate(logits))


def field_accuracy(logits: list[torch.Tensor], labels: torch.Tensor) -> dict[str, float]:
    """Accuracy (%) per field over the slots that hold an object (shape also over empty slots)."""
    out = {}
    for j, name in enumerate(("shape", "color", "size", "loc_x", "loc_y")):
        y = labels[..., j]
        keep = y != -100
        pred = logits[j].argmax(-1)
        out[name] = round(float((pred[keep] == y[keep]).float().mean() * 100), 2) if keep.any() else float("nan")
    return out


def vision_modules(model: nn.Module) -> nn.ModuleDict:
    return nn.ModuleDict({"vision_tower": model.vision_tower, "projector": model.projector})


def stage_seed(t) -> int:
    """The stage's seed (`t`: the [train] section): its own, or the run's."""
    return t.seed if t.vision_pretrain_seed < 0 else t.vision_pretrain_seed


def cache_key(cfg: Config, world) -> str:
    from florenz.world.build import world_hash

    t = cfg.train
    spec = {"world": world_hash(world), "vision": cfg.model.preset, "model": dataclasses.asdict(cfg.model),
            "samples": t.vision_pretrain_samples, "images": t.vision_pretrain_images, "lr": t.vision_pretrain_lr,
            "batch": t.vision_pretrain_batch_size, "seed": stage_seed(t), "v": 2}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"vision-{cfg.model.preset}-{digest}"


def train_vision(model: nn.Module, images: np.ndarray, labels: np.ndarray, heads: Heads, processor,
                 samples: int, batch: int, lr: float, seed: int, warmup: int = 20) -> dict:
    """Train tower + projector + head on the first images; returns loss, accuracy on the last ones, FLOPs."""
    from florenz.clitools import make_progress
    from florenz.train.vl import pixel_values

    n_eval = min(_EVAL_IMAGES, len(images) // 5)
    n_train = len(images) - n_eval
    if n_train < batch:
        raise FlorenzError(f"train.vision_pretrain_images={len(images)} leaves fewer training images than the batch")
    vis, dev = vision_modules(model), model.device

    def pixels(rows) -> torch.Tensor:
        return pixel_values(processor, images[rows]).to(dev)

    with torch.no_grad():
        tokens = model.visual_tokens(pixels(slice(0, 1))).shape[1:]
    torch.manual_seed(seed)  # the caller forks the RNG: the run's own stream is untouched
    head = DetectionHead(tokens[0], tokens[1], heads).to(dev)
    params = [*vis.parameters(), *head.parameters()]
    states = [p.requires_grad for p in vis.parameters()]
    for p in vis.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps = max(1, math.ceil(samples / batch))
    sched = CosineSchedule(lr, steps, min(warmup, steps))
    rng = np.random.default_rng(seed)
    loss = torch.zeros(())
    was = model.training
    vis.train()
    with make_progress() as bar:
        task = bar.add_task("vision pre-training", total=steps, info="")
        for step in range(steps):
            set_lr(opt, sched(step))
            rows = rng.integers(0, n_train, size=batch)
            logits = head(model.visual_tokens(pixels(rows)))
            loss = detection_loss(logits, torch.from_numpy(labels[rows]).to(dev))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            bar.update(task, advance=1, info=f"loss {float(loss.detach()):.3f}")
    vis.eval()
    with torch.no_grad():
        ev = head(model.visual_tokens(pixels(slice(n_train, None))))
        acc = field_accuracy(ev, torch.from_numpy(labels[n_train:]).to(dev))
        x = pixels(slice(0, batch))
        flops = forward_flops_per_sample(lambda: head(model.visual_tokens(x)), batch)
    for p, s in zip(vis.parameters(), states, strict=True):
        p.requires_grad_(s)
    model.train(was)
    n_params = sum(p.numel() for p in params)
    return {"steps": steps, "samples": steps * batch, "final_loss": float(loss.detach()), "heldout_accuracy": acc,
            "flops_per_sample": flops, "params": n_params,
            "compute": training_compute(steps * batch, flops, n_params, n_params)}


def init_from_seed(cfg: Config, model: nn.Module, processor, seed: int) -> None:
    """Start the tower + projector from a fresh model built under the stage's seed, so what the stage makes
    depends on that seed alone, not on the run's own init (a shared cache entry is the same whichever run made
    it). With the default seed this is the run's own init: the run builds its model right after seeding too."""
    from florenz.models.build import build_model

    torch.manual_seed(seed)
    fresh = build_model(cfg.model, tokenizer=processor.decoder_tokenizer)
    vision_modules(model).load_state_dict(vision_modules(fresh).state_dict())


def run_vision_pretrain(cfg: Config, model: nn.Module, processor, data_dir: Path, out: Path, is_main: bool) -> dict:
    """Pre-train (or load from the cache) the vision tower + projector into `model`; returns the stage's info."""
    from florenz.train.lm_cache import LMStageCache

    t = cfg.train
    world = world_settings(data_dir)
    key = cache_key(cfg, world)
    cache = LMStageCache(t.vision_pretrain_cache, key) if t.vision_pretrain_cache else None
    t0 = time.perf_counter()
    with cache.lock() if cache else contextlib.nullcontext():
        hit = cache.load() if cache else None
        if hit is None:
            with torch.random.fork_rng(devices=[]):
                init_from_seed(cfg, model, processor, stage_seed(t))
                images, labels, heads = render_set(world, t.vision_pretrain_images)
                info = train_vision(model, images, labels, heads, processor, t.vision_pretrain_samples,
                                    t.vision_pretrain_batch_size, t.vision_pretrain_lr, stage_seed(t))
            info["wall_time_s"] = round(time.perf_counter() - t0, 3)
            if cache:
                cache.save_payload({"model": {k: v.detach().cpu().clone()
                                              for k, v in vision_modules(model).state_dict().items()},
                                    "info": info})
            cached = False
        else:
            vision_modules(model).load_state_dict(hit["model"])
            info, cached = hit["info"], True
    info = {**info, "cached": cached, "key": key, "images": t.vision_pretrain_images, "seed": stage_seed(t)}
    if is_main:
        write_json(out / INFO_FILE, info)
    return info


def annotate_result(out: Path, result: dict) -> dict:
    """Add the stage's cost to result.json beside C (C itself, like the paper's, excludes it)."""
    path = out / INFO_FILE
    if not path.is_file():
        return result
    info = read_json(path)
    result.update(vision_pretrain_samples=info["samples"], vision_pretrain_flops_per_sample=info["flops_per_sample"],
                  vision_pretrain_compute=info["compute"], vision_pretrain_wall_time_s=info["wall_time_s"],
                  vision_pretrain_cached=info["cached"], vision_pretrain_accuracy=info["heldout_accuracy"],
                  vision_pretrain_seed=info["seed"])
    from florenz.train.rundir import RESULT_FILE

    write_json(out / RESULT_FILE, result)
    return result

