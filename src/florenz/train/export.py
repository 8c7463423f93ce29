"""`florenz export`: a checkpoint (one-file or sharded) of a run as a model directory for inference.

Apart from `dcp.py` because it builds the run's model through `setup`, which itself reads checkpoints via `dcp`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from florenz.config import load_config
from florenz.errors import FlorenzError
from florenz.models.checkpoint import save_model
from florenz.train import dcp, setup
from florenz.train.distributed import DistEnv


def export_model(checkpoint: Path, out: Path) -> Path:
    """Write checkpoint `RUN/checkpoints/step-N` as a model directory (`save_model`) at `out`."""
    run = Path(checkpoint).resolve().parents[1]
    if not (run / "config.toml").is_file():
        raise FlorenzError(f"export: {checkpoint} is not a checkpoint inside a run directory (no {run}/config.toml)")
    cfg = load_config(run / "config.toml")
    data_dir = setup.resolve_data(cfg, DistEnv())
    model, processor = setup.build(cfg, setup.load_tokenizer(cfg, data_dir), torch.device("cpu"))
    model.load_state_dict(dcp.model_state(Path(checkpoint), model))
    save_model(model.eval(), processor, out)
    return out
