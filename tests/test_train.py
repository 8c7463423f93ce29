"""Training loop: end-to-end on a tiny micro world, exact kill/resume, crash-safe checkpoints, NaN stop,
two-process gloo equivalence. Tiny model (micro-gemma-xs), tiny budgets, one thread for determinism."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from florenz.config import load_config
from florenz.errors import FlorenzError
from florenz.train import checkpoint as ckpt
from florenz.train.loop import train_run

ROOT = Path(__file__).resolve().parents[1]
RESULT_KEYS = {"preset", "decoder_kind", "params", "trainable_params", "samples", "decoder_languages", "seed",
               "wall_time_s", "flops_per_sample", "compute", "final_loss", "data"}


def overrides(world: Path, **extra) -> list[str]:
    base = {"data.path": str(world), "model.preset": "micro-gemma-xs", "train.samples": 48, "train.batch_size": 8,
            "train.micro_batch_size": 4, "train.threads": 1, "train.log_every": 1, "train.warmup_steps": 2,
            "train.decoder_lm_languages": "en,fr", "train.decoder_lm_samples": 16, "data.max_target_tokens": 24,
            "data.max_source_tokens": 32, "data.cache_dir": str(world.parent)}
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def free_port() -> str:
    """A port nobody listens on now (other test runs on this machine launch torchrun too)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def cli(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "florenz.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_train_writes_run_dir(tiny_world, tmp_path):
    cfg = load_config("micro", overrides(tiny_world, **{"train.checkpoint_every": 3, "train.keep_checkpoints": 2}))
    res = train_run(cfg, tmp_path)
    assert set(res) >= RESULT_KEYS
    assert json.loads((tmp_path / "result.json").read_text()) == json.loads(json.dumps(res))
    assert res["samples"] == 48 and res["decoder_languages"] == 2 and res["decoder_lm_samples"] == 16
    assert 0 < res["trainable_params"] < res["params"]
    assert res["flops_per_sample"] > 0
    assert res["compute"] == pytest.approx(48 * res["flops_per_sample"] * (1 + res["trainable_params"] / res["params"]))
    rows = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 9))  # 2 LM steps + 6 VL steps
    assert [r["stage"] for r in rows] == ["decoder_lm"] * 2 + ["vl"] * 6
    assert {"loss", "lr", "grad_norm", "samples_per_s", "tokens_per_s"} <= set(rows[-1])
    assert rows[-1]["loss"] == res["final_loss"] and math.isfinite(res["final_loss"])
    assert rows[2]["lr"] < rows[3]["lr"]  # the VL stage has its own warm-up
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-00000006", "step-00000008"]  # keep 2
    assert (tmp_path / "config.toml").is_file() and any((tmp_path / "tb").iterdir())
    assert (tmp_path / "model" / "model.safetensors").is_file()
    with pytest.raises(FlorenzError, match="--resume"):
        train_run(cfg, tmp_path)
    # fine-tuning starts from a run's model/ or one of its checkpoints (train.init_from)
    from florenz.data.tokenizer import load_tokenizer
    from florenz.models.checkpoint import load_model
    from florenz.train import setup

    saved, _ = load_model(tmp_path / "model")
    for src in (tmp_path / "model", ckpt.latest_checkpoint(tmp_path)):
        fresh, _ = setup.build(cfg, load_tokenizer(tiny_world), torch.device("cpu"))
        setup.init_from(fresh, str(src), "none")
        assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), saved.state_dict().values(),
                                                     strict=True))
    with pytest.raises(FlorenzError, match="init_from"):
        setup.init_from(fresh, str(tmp_path / "tb"), "none")


def test_kill_and_resume_is_exact(tiny_world, tmp_path):
    """SIGKILL a training subprocess mid-run, resume it: the final loss equals the uninterrupted run's."""
    sets = overrides(tiny_world, **{"train.samples": 160, "train.checkpoint_every": 2, "train.keep_checkpoints": 3})
    ref = train_run(load_config("micro", sets), tmp_path / "ref")
    run = tmp_path / "killed"
    args = ["train", "micro", "--out", str(run), *[a for s in sets for a in ("--set", s)]]
    proc = cli(args)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:  # kill once the VL stage has checkpointed
        if any(p.name >= "step-00000004" for p in ckpt.list_checkpoints(run)):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (run / "result.json").exists()
    killed_at = ckpt.latest_checkpoint(run)
    assert killed_at is not None and killed_at.name < "step-00000022"
    proc = cli([*args, "--resume"])
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-2000:]
    res = json.loads((run / "result.json").read_text())
    assert res["final_loss"] == pytest.approx(ref["final_loss"], abs=1e-6)
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 23))  # no duplicated rows after the resume
    ref_rows = [json.loads(x) for x in (tmp_path / "ref" / "log.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in rows] == pytest.approx([r["loss"] for r in ref_rows], abs=1e-6)


def test_decoder_lm_replay_mixes_lm_rows_into_vl_steps_and_resumes_exactly(tiny_world, tmp_path):
    """train.decoder_lm_replay: every VL step also trains on LM rows (not VL samples: S and C unchanged, the rows
    reported beside C), and a run resumed from a mid-stage checkpoint ends exactly as the uninterrupted one."""
    import shutil

    plain = train_run(load_config("micro", overrides(tiny_world)), tmp_path / "plain")
    sets = overrides(tiny_world, **{"train.decoder_lm_replay": 0.5, "train.checkpoint_every": 3,
                                    "train.keep_checkpoints": 3})
    ref = train_run(load_config("micro", sets), tmp_path / "ref")
    assert ref["samples"] == plain["samples"] == 48 and ref["compute"] == pytest.approx(plain["compute"])
    assert ref["decoder_lm_replay_rows"] == 6 * 4  # 6 VL steps x ceil(8 x 0.5) rows
    assert 0 < ref["decoder_lm_replay_compute"] < ref["compute"]
    assert "decoder_lm_replay_rows" not in plain and ref["final_loss"] != pytest.approx(plain["final_loss"])
    rows = [json.loads(x) for x in (tmp_path / "ref" / "log.jsonl").read_text().splitlines()]
    vl_rows = [r for r in rows if r.get("stage") == "vl"]
    assert len(vl_rows) == 6 and all(math.isfinite(r["replay_loss"]) for r in vl_rows)  # logged apart from the VL loss
    assert vl_rows[-1]["loss"] == ref["final_loss"] and vl_rows[-1]["replay_loss"] != ref["final_loss"]
    assert not any("replay_loss" in r for r in rows if r.get("stage") == "decoder_lm")
    assert not any("replay_loss" in json.loads(x) for x in (tmp_path / "plain" / "log.jsonl").read_text().splitlines())
    run = tmp_path / "resumed"
    shutil.copytree(tmp_path / "ref", run)
    for p in ckpt.list_checkpoints(run):
        if p.name > "step-00000006":  # back to the middle of the VL stage (2 LM steps + 4 VL steps)
            shutil.rmtree(p)
    shutil.rmtree(run / "model")
    (run / "result.json").unlink()
    res = train_run(load_config("micro", sets), run, resume=True)
    assert res["final_loss"] == pytest.approx(ref["final_loss"], abs=1e-6)
    assert res["decoder_lm_replay_rows"] == ref["decoder_lm_replay_rows"]
    with pytest.raises(FlorenzError, match="decoder_lm_replay"):
        train_run(load_config("micro", overrides(tiny_world, **{"train.decoder_lm_replay": 0.5,
                                                                "train.decoder_lm_samples": 0})), tmp_path / "bad")
    from florenz.train.distributed import DistEnv
    from florenz.train.setup import make_stages

    with pytest.raises(FlorenzError, match="decoder_lm_replay is for single-process"):  # before any data is read
        make_stages(load_config("micro", sets), DistEnv(rank=0, world_size=2), tiny_world, None, None)


def test_interrupted_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, 2, {"x": torch.arange(3)})

    def broken_save(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt  # e.g. killed mid-write

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path, 4, {"x": torch.arange(5)})
    latest = ckpt.latest_checkpoint(tmp_path)
    assert latest is not None and latest.name == "step-00000002"
    assert torch.equal(ckpt.load_checkpoint(latest)["x"], torch.arange(3))
    # a stray temp dir from a hard kill is ignored and cleaned by the next save
    (tmp_path / "checkpoints" / ".step-00000006.tmp123").mkdir()
    assert ckpt.latest_checkpoint(tmp_path).name == "step-00000002"
    monkeypatch.undo()
    ckpt.save_checkpoint(tmp_path, 8, {"x": torch.arange(1)}, keep=1)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-00000008"]


def test_nan_loss_names_step_and_checkpoint(tiny_world, tmp_path, monkeypatch):
    from florenz.train import loop

    calls = {"n": 0}
    real = loop.TrainStep.forward

    def forward(self, batch):
        loss = real(self, batch)
        calls["n"] += 1
        return loss * float("nan") if calls["n"] > 4 and "pixel_values" in batch else loss

    monkeypatch.setattr(loop.TrainStep, "forward", forward)
    cfg = load_config("micro", overrides(tiny_world, **{"train.checkpoint_every": 1, "train.decoder_lm_samples": 0}))
    with pytest.raises(FlorenzError, match=r"loss is nan at step 3 .*step-00000002") as e:
        train_run(cfg, tmp_path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("key", "value", "needle"), [("train.precision", "fp8", "train.precision"),
                                                      ("train.samples", 4, "train.samples"),
                                                      ("train.micro_batch_size", 3, "micro_batch_size"),
                                                      ("data.class_weights", '{"caption/xx" = 1.0}', "caption/xx")])
def test_bad_settings_are_one_line_errors(tiny_world, tmp_path, key, value, needle):
    cfg = load_config("micro", overrides(tiny_world, **{key: value}))
    with pytest.raises(FlorenzError, match=needle.replace(".", r"\.")):
        train_run(cfg, tmp_path)


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_match_one(tiny_world, tmp_path, mode):
    """torchrun, 2 gloo processes x micro batch 4 == 1 process x 2 micro batches of 4 (same global batch 8).
    Gradients are token-weighted over the global batch, so only float summation order differs: tolerance 1e-4.
    FSDP2 shards per decoder layer (the Gemma kind's 0-dim gates stay replicated). Checkpoints are sharded
    (train/dcp.py); resuming from one is exact, and its export equals the run's final model."""
    sets = overrides(tiny_world, **{"train.samples": 32, "train.distributed": mode, "train.checkpoint_every": 5,
                                    "train.keep_checkpoints": 3})
    one = train_run(load_config("micro", sets), tmp_path / "one")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    port = free_port()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", port, "-m",
           "florenz.cli", "train", "micro", "--out", str(tmp_path / "two"), "--json",
           *[a for s in sets for a in ("--set", s)]]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert two["world_size"] == 2 and two["distributed"] == mode
    assert two["params"] == one["params"] and two["trainable_params"] == one["trainable_params"]
    assert two["final_loss"] == pytest.approx(one["final_loss"], abs=1e-4)
    rows1 = [json.loads(x)["loss"] for x in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    rows2 = [json.loads(x)["loss"] for x in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    assert rows2 == pytest.approx(rows1, abs=1e-4)
    # sharded checkpoints (torch.distributed.checkpoint): shards of both ranks, state.pt without weights
    latest = ckpt.latest_checkpoint(tmp_path / "two")
    assert latest.name == "step-00000006" and (latest / "dcp" / ".metadata").is_file()
    assert len(list((latest / "dcp").glob("*.distcp"))) == 2
    assert "model" not in ckpt.load_checkpoint(latest) and ckpt.load_checkpoint(latest)["sharded"]
    # the export of the last (sharded) checkpoint is the run's final model
    from florenz.models.checkpoint import load_model

    out = cli(["export", str(latest), "--out", str(tmp_path / "exported")])
    _, err = out.communicate(timeout=120)
    assert out.returncode == 0, err[-2000:]
    final, exported = load_model(tmp_path / "two" / "model")[0], load_model(tmp_path / "exported")[0]
    assert all(torch.equal(a, b) for a, b in zip(final.state_dict().values(), exported.state_dict().values(),
                                                 strict=True))
    # fine-tuning from a sharded checkpoint, in one process (train.init_from)
    from florenz.data.tokenizer import load_tokenizer
    from florenz.train import setup

    cfg = load_config("micro", sets)
    fresh, _ = setup.build(cfg, load_tokenizer(tiny_world), torch.device("cpu"))
    setup.init_from(fresh, str(latest), "none")
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), final.state_dict().values(),
                                                 strict=True))
    # exact resume from the sharded step-5 checkpoint: drop the final one and go again
    import shutil

    shutil.rmtree(latest)
    (tmp_path / "two" / "result.json").unlink()
    assert ckpt.latest_checkpoint(tmp_path / "two").name == "step-00000005"
    cmd[cmd.index(port)] = free_port()
    proc = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads((tmp_path / "two" / "result.json").read_text())
    assert again["final_loss"] == pytest.approx(two["final_loss"], abs=1e-6)


def test_sharded_checkpoint_without_its_shards_is_unreadable(tmp_path):
    """A sharded checkpoint whose dcp/ index is missing is reported (and resume falls back to the previous one)."""
    from florenz.train import dcp

    ckpt.save_checkpoint(tmp_path, 3, {"sharded": True, "state": {}})
    with pytest.raises(FlorenzError, match=r"unreadable checkpoint .*dcp/\.metadata"):
        dcp.load_payload(ckpt.latest_checkpoint(tmp_path))
