"""How a run trains (the `[train]` config section). The budget is `samples` seen."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

COMPILE_BACKENDS = ("off", "inductor", "aot_eager", "eager")  # train.compile: off, or a torch.compile backend


@dataclass
class TrainConfig:
    samples: int = 20000  # budget S = steps x global batch
    batch_size: int = 64  # global batch
    micro_batch_size: int = 0  # per device and step; 0 = batch_size / world size (no accumulation)
    lr: float = 1e-3
    warmup_steps: int = 20
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of lr
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    grad_clip: float | str = 1.0  # max global grad norm (> 0), or "off" for no clipping (the norm is still logged)
    precision: str = "auto"  # auto (bf16 on GPU if supported, else fp16; fp32 on CPU) | fp32 | bf16 | fp16
    seed: int = 0
    threads: int = 0  # torch CPU threads; 0 = torch default
    log_every: int = 10  # steps
    checkpoint_every: int = 0  # steps; 0 = only at the end
    keep_checkpoints: int = 2
    distributed: str = "auto"  # auto | none | ddp | fsdp
    init_from: str = ""  # checkpoint dir to start from (fine-tuning)
    activation_checkpointing: bool = False  # recompute every encoder/decoder layer in the backward pass
    compile: str = "off"  # torch.compile the train step: off | inductor | aot_eager | eager (backend name)
    # Decoder language-model pre-training stage (micro models): languages (T = len) and budget.
    decoder_lm_languages: list[str] = field(default_factory=list)
    decoder_lm_samples: int = 0
    decoder_lm_lr: float = 3e-3
    # Decoder-LM rows replayed per VL sample in the vision-language stage (train/replay.py); 0 = off.
    decoder_lm_replay: float = 0.0
    # Directory where a finished decoder-LM stage is stored and reused by identical runs (sweeps); "" = off.
    decoder_lm_cache: str = ""
    # Vision pre-training stage (micro models; train/vision_pretrain.py): Florence-2's part, on other renders of
    # the world. 0 samples = off. Its cost goes to result.json beside C, not into it.
    vision_pretrain_samples: int = 0
    vision_pretrain_images: int = 8000  # distinct renders the stage draws from (the last 256 check it)
    vision_pretrain_batch_size: int = 64
    vision_pretrain_lr: float = 2e-3
    vision_pretrain_cache: str = ""  # directory shared by identical runs (sweeps); "" = off
    # The stage's own seed (tower init, head, draw order); -1 = train.seed. A fixed value gives every training
    # seed one pre-trained tower per (world, preset), as the paper's runs of one size share one Florence-2.
    vision_pretrain_seed: int = -1
    # With the vision tower + projector frozen in the VL stage, compute each training image's visual tokens
    # once and reuse them (single-process micro runs with in-memory images); same numbers, less work.
    frozen_vision_features: bool = True

    @property
    def max_grad_norm(self) -> float:
        return math.inf if self.grad_clip == "off" else float(self.grad_clip)
