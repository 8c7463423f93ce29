"""benchmarks/gpu_step.py runs end to end on CPU at a tiny size (no GPU is lent to the test suite)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_step.py"


def test_gpu_step_runs_tiny_on_cpu():
    spec = importlib.util.spec_from_file_location("gpu_step", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.main(["--presets", "micro-gemma-xs", "--variants", "plain,ckpt,compile", "--batch", "2",
                     "--image-size", "64", "--src-tokens", "8", "--tgt-tokens", "8", "--steps", "1", "--warmup", "0",
                     "--device", "cpu", "--dtype", "fp32", "--compile-backend", "eager", "--peak-tflops", "0.001"])
    assert [r["variant"] for r in rows] == ["plain", "ckpt", "compile"]
    for r in rows:
        assert r["samples_per_s"] > 0 and r["peak_mem_gib"] > 0 and r["step_flops"] > 0
        assert r["mfu"] > 0 and math.isfinite(r["loss"])
    # the same model, batch and seed: the same FLOPs and first-step loss whatever the variant
    assert rows[0]["step_flops"] == rows[1]["step_flops"] == rows[2]["step_flops"]
    assert rows[0]["loss"] == rows[1]["loss"] == rows[2]["loss"]
