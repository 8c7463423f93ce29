"""Sweeps: idempotent across a SIGKILL, the submitit path (LocalExecutor), and a tiny demo end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from florenz.config import load_config
from florenz.sweep.demo import run_demo
from florenz.sweep.run import run_sweep

ROOT = Path(__file__).resolve().parents[1]


def tiny_sweep_sets(world: Path) -> list[str]:
    return [f"data.path={world}", f"data.cache_dir={world.parent}", "train.batch_size=8", "train.threads=1",
            "train.decoder_lm_samples=16", "train.warmup_steps=2", "train.log_every=1", "data.max_target_tokens=24",
            "data.max_source_tokens=32", "eval.beams=1", "eval.max_new_tokens=6", "eval.ce_samples_per_class=4",
            "eval.generation_samples=2", "sweep.presets=micro-gemma-xs", "sweep.seeds=[0]", "sweep.workers=1"]


def test_sweep_survives_sigkill_without_redoing_work(tiny_world, tmp_path):
    out = tmp_path / "sweep"
    sets = [*tiny_sweep_sets(tiny_world), "sweep.samples=[48, 400]", "sweep.decoder_languages=[1]",
            "train.checkpoint_every=2"]
    args = [sys.executable, "-m", "florenz.cli", "sweep", "micro", "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    big, small = out / "micro-gemma-xs__S400__T1__seed0", out / "micro-gemma-xs__S48__T1__seed0"
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and not list((big / "checkpoints").glob("step-*")):  # the big run goes first
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list((big / "checkpoints").glob("step-*")), "sweep never reached a checkpoint"
    assert not (big / "result.json").exists()
    assert subprocess.run(args, cwd=ROOT, env=env, capture_output=True).returncode == 0
    summary = json.loads((out / "sweep.json").read_text())
    assert sorted(summary["ran"]) == sorted([big.name, small.name]) and summary["skipped"] == []
    steps = [json.loads(x)["step"] for x in (big / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)), "resumed log repeats steps"
    stamps = {d: (d / "scores.json").stat().st_mtime_ns for d in (big, small)}
    # a third start finds everything done and redoes nothing
    assert subprocess.run(args, cwd=ROOT, env=env, capture_output=True).returncode == 0
    assert sorted(json.loads((out / "sweep.json").read_text())["skipped"]) == sorted([big.name, small.name])
    assert stamps == {d: (d / "scores.json").stat().st_mtime_ns for d in (big, small)}


def test_submitit_local_executor(tiny_world, tmp_path):
    cfg = load_config("micro", [*tiny_sweep_sets(tiny_world), "sweep.samples=[16]", "sweep.decoder_languages=[0, 1]",
                                "sweep.executor=slurm", "sweep.slurm_array=true"])
    results = run_sweep(cfg, tmp_path / "sweep", slurm_local=True)
    assert sorted(r["name"] for r in results) == ["micro-gemma-xs__S16__T0__seed0", "micro-gemma-xs__S16__T1__seed0"]
    for r in results:
        assert (tmp_path / "sweep" / r["name"] / "scores.json").is_file()
        assert r["result"]["decoder_languages"] in (0, 1)


def test_tiny_demo_end_to_end(tiny_world, tmp_path):
    sets = [*tiny_sweep_sets(tiny_world), "sweep.samples=[16, 32]", "sweep.decoder_languages=[6]",
            "sweep.contrast_samples=[32]", "sweep.contrast_decoder_languages=[1]", "train.vision_pretrain_samples=32",
            "train.vision_pretrain_images=48", "train.vision_pretrain_batch_size=16"]
    summary = run_demo(tmp_path / "demo", sets)
    # the demo's vision stage is trained once per (size, seed) and shared by its runs
    assert len(list((tmp_path / "demo" / "runs" / "vision_cache").glob("vision-*/stage.pt"))) == 1
    assert summary["runs"] == 3
    assert (tmp_path / "demo" / "report.md").is_file() and (tmp_path / "demo" / "report.html").is_file()
    assert summary["findings"] and "Report:" in summary["text"]
    for claim in summary["claims"]:
        assert claim["verdict"] in ("supported", "not supported") or claim["verdict"].startswith("not testable (")
    assert all(f in summary["text"] for f in summary["findings"])
