"""Bad input and faults through the CLI (issue 14): each case gives a one-line error naming the input (exit 1)
or a counted skip, never a traceback, never exit 0 with a wrong number, and nothing already on disk is lost.

Cases run in-process through `florenz.cli.main` (the console script's entry point) to stay fast; the lock
cases use a second process. Models are micro-gemma-xxs on the shared 48-scene world, budgets of a few steps.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from florenz.cli import main

ROOT = Path(__file__).resolve().parents[1]


def train_sets(world: Path, **extra) -> list[str]:
    base = {"data.path": str(world), "data.cache_dir": str(world.parent), "model.preset": "micro-gemma-xxs",
            "train.samples": 16, "train.batch_size": 8, "train.threads": 1, "train.warmup_steps": 1,
            "train.decoder_lm_languages": "en", "train.decoder_lm_samples": 8, "data.max_target_tokens": 24,
            "data.max_source_tokens": 32}
    base.update(extra)
    return [a for k, v in base.items() for a in ("--set", f"{k}={v}")]


EVAL_SETS = ["--set", "eval.beams=1", "--set", "eval.max_new_tokens=3", "--set", "eval.ce_samples_per_class=2",
             "--set", "eval.generation_samples=2"]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (or root itself) -> its content hash: what must survive a refused command."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock")
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def run_dir(tiny_world, tmp_path_factory) -> Path:
    """One finished, evaluated tiny run (copied by the cases that change it)."""
    out = tmp_path_factory.mktemp("bad_input") / "run"
    assert main(["train", "micro", "--out", str(out), *train_sets(tiny_world)]) == 0
    assert main(["eval", str(out), *EVAL_SETS]) == 0
    return out


# -- corrupt data sets ---------------------------------------------------------------------------------------


def rewrite_shard(path: Path, edit: Callable[[int, str, str, bytes], bytes | None], cut_at: int | None = None):
    """Rewrite a tar shard, passing (record index, key, ext, data) through `edit` (None drops the member);
    `cut_at`: truncate the file at the header of that record (a cut at a member boundary)."""
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar if m.isfile()]
    keys = list(dict.fromkeys(m.name.partition(".")[0] for m, _ in members))
    buf = io.BytesIO()
    offsets = {}
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for m, data in members:
            key, _, ext = m.name.partition(".")
            new = edit(keys.index(key), key, ext, data)
            if new is None:
                continue
            offsets.setdefault(keys.index(key), buf.tell())
            info = tarfile.TarInfo(m.name)
            info.size = len(new)
            tar.addfile(info, io.BytesIO(new))
    data = buf.getvalue()
    path.write_bytes(data[: offsets[cut_at]] if cut_at is not None else data)


def set_sample(data: bytes, i: int, **fields) -> bytes:
    meta = json.loads(data)
    for k, v in fields.items():
        if v is ...:
            meta["samples"][i].pop(k)
        else:
            meta["samples"][i][k] = v
    return json.dumps(meta).encode()


def first_index(data: bytes, task: str) -> int:
    return next(i for i, s in enumerate(json.loads(data)["samples"]) if s["task"] == task)


def broken_train_data(world: Path, dest: Path) -> Path:
    """The world with one defect per record of its first shard, and its last shard cut at a member boundary."""
    shutil.copytree(world, dest)

    def edit(i: int, key: str, ext: str, data: bytes) -> bytes | None:
        if i == 0 and ext == "png":
            return b"not a png"  # corrupt image in the very first record
        if ext != "json":
            return data
        if i == 1:
            return b'{"id": "x", "samples": [{"task": '  # invalid JSON
        if i == 2:
            return set_sample(data, 0, tgt=...)  # a sample without its target
        if i == 3:
            return set_sample(data, 0, tgt=None)  # "tgt": null
        if i == 4:
            return set_sample(data, 0, tgt="   ")  # empty target
        if i == 5:
            return set_sample(data, first_index(data, "translation"), src="")  # empty translation source
        return data

    rewrite_shard(dest / "train-000000.tar", edit)
    rewrite_shard(dest / "train-000001.tar", lambda i, k, e, d: d, cut_at=10)
    return dest


# -- the table -----------------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    args: Callable[[dict], list[str]]  # ctx -> CLI args (ctx: world, run, tmp and what `prepare` adds)
    needle: str  # regex the one-line error must match (it names the input)
    prepare: Callable[[dict], None] = lambda ctx: None
    keep: Callable[[dict], list[Path]] = lambda ctx: []  # paths whose files must be unchanged afterwards
    code: int = 1
    stdin: str | None = None
    check: Callable[[dict, str, str], None] = field(default=lambda ctx, out, err: None)


def _copy_run(ctx: dict) -> None:
    shutil.copytree(ctx["run"], ctx["tmp"] / "run")
    ctx["run"] = ctx["tmp"] / "run"


def _a_file(ctx: dict) -> None:
    (ctx["tmp"] / "file").write_text("keep me\n")


def _write(name: str, text: str | bytes) -> Callable[[dict], None]:
    def prepare(ctx: dict) -> None:
        p = ctx["tmp"] / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return prepare


def _an_image(ctx: dict) -> None:
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 30, 30)).save(ctx["tmp"] / "img.png")


def _no_tokenizer(ctx: dict) -> None:
    shutil.copytree(ctx["world"], ctx["tmp"] / "data", ignore=shutil.ignore_patterns("tokenizer.json"))


def _broken_data(ctx: dict) -> None:
    broken_train_data(ctx["world"], ctx["tmp"] / "data")


def _empty_reference(ctx: dict) -> None:
    _copy_run(ctx)
    shutil.copytree(ctx["world"], ctx["tmp"] / "data")
    rewrite_shard(ctx["tmp"] / "data" / "heldout-000000.tar",
                  lambda i, k, e, d: set_sample(d, 0, tgt="") if (i == 2 and e == "json") else d)


def _finished_without_checkpoints(ctx: dict) -> None:
    _copy_run(ctx)
    shutil.rmtree(ctx["run"] / "checkpoints")


def _resume_checked(ctx: dict, out: str, err: str) -> None:
    res = json.loads((ctx["run"] / "result.json").read_text())
    ref = json.loads((ctx["original"] / "result.json").read_text())
    for key in ("params", "trainable_params", "flops_per_sample", "compute", "samples", "final_loss"):
        assert res[key] == ref[key], key  # the same numbers as the run that wrote them first
    assert not (ctx["run"] / "scores.json").exists()  # the model was rewritten: its old scores went


def _corrupt_latest(ctx: dict) -> None:
    _copy_run(ctx)
    ckpts = sorted((ctx["run"] / "checkpoints").glob("step-*"))
    assert len(ckpts) == 2
    (ckpts[-1] / "state.pt").write_bytes(b"garbage")
    ctx["fallback"] = ckpts[0].name


def _skips_counted(ctx: dict, out: str, err: str) -> None:
    res = json.loads((ctx["tmp"] / "out" / "result.json").read_text())
    skipped = res["data_skipped"]["skipped"]
    assert skipped["bad_image"] >= 1 and skipped["invalid_json"] == 1 and skipped["bad_sample"] == 2
    assert skipped["empty_target"] == 1 and skipped["empty_source"] == 1 and skipped["truncated_shard"] == 1
    assert skipped["missing_vs_stats"] > 0
    assert res["data_skipped"]["samples_used"] + res["data_skipped"]["samples_unusable"] == \
        res["data_skipped"]["samples_expected"]
    rows = [json.loads(x) for x in (ctx["tmp"] / "out" / "log.jsonl").read_text().splitlines()]
    assert any(r.get("data_skipped", {}).get("skipped") == skipped for r in rows)
    assert "train-000001.tar is truncated" in " ".join(err.split())


def _translate_lines(ctx: dict, out: str, err: str) -> None:
    rows = [json.loads(x) for x in out.splitlines()]
    assert [r["src"] for r in rows] == ["a red circle", "", "a blue square"] and rows[1]["text"] == ""


def _empty_translate(ctx: dict, out: str, err: str) -> None:
    assert out == "\n"  # one (empty) output line for the one (empty) input


def _eval_checkpoint(ctx: dict, out: str, err: str) -> None:
    step = sorted((ctx["run"] / "checkpoints").glob("step-*"))[-1]
    assert (step / "scores.json").is_file()  # beside the checkpoint; the run's own scores.json untouched


def ckpt_arg(ctx: dict) -> str:
    return str(sorted((ctx["run"] / "checkpoints").glob("step-*"))[-1])


CASES = [
    # wrong numbers with exit 0, before
    Case("resume_changed_preset", lambda c: ["train", "micro", "--out", str(c["run"]), "--resume",
                                             *train_sets(c["world"], **{"model.preset": "micro-gemma-xs"})],
         r"model\.preset .*micro-gemma-xs", _copy_run, lambda c: [c["run"]]),
    Case("resume_changed_budget", lambda c: ["train", "micro", "--out", str(c["run"]), "--resume",
                                             *train_sets(c["world"], **{"train.samples": 32})],
         r"train\.samples \(16 -> 32\)", _copy_run, lambda c: [c["run"]]),
    Case("train_into_finished_run", lambda c: ["train", "micro", "--out", str(c["run"]), *train_sets(c["world"])],
         r"already holds a run \(model, result\.json, scores\.json", _finished_without_checkpoints,
         lambda c: [c["run"]]),
    Case("resume_finished_run", lambda c: ["train", "micro", "--out", str(c["run"]), "--resume",
                                           *train_sets(c["world"])], "", _copy_run, code=0, check=_resume_checked),
    Case("grad_clip_negative", lambda c: ["train", "micro", "--out", str(c["tmp"] / "r"),
                                          *train_sets(c["world"], **{"train.grad_clip": -1})], r"train\.grad_clip"),
    Case("grad_clip_zero", lambda c: ["train", "micro", "--out", str(c["tmp"] / "r"),
                                      *train_sets(c["world"], **{"train.grad_clip": 0})], r"train\.grad_clip.*off"),
    Case("lr_negative", lambda c: ["train", "micro", "--set", "train.lr=-1"], r"train\.lr.*> 0"),
    Case("lr_nan", lambda c: ["train", "micro", "--set", "train.lr=nan"], r"train\.lr.*finite"),
    Case("eval_batch_size_zero", lambda c: ["eval", str(c["run"]), "--set", "eval.batch_size=0"],
         r"eval\.batch_size", keep=lambda c: [c["run"]]),
    # data dropped or used silently
    Case("bad_training_data_over_limit", lambda c: ["train", "micro", "--out", str(c["tmp"] / "out"),
                                                    *train_sets(c["tmp"] / "data")],
         r"first: record .* in .*train-00000\d\.tar.*max_skipped_share", _broken_data, lambda c: [c["tmp"] / "data"]),
    Case("bad_training_data_counted", lambda c: ["train", "micro", "--out", str(c["tmp"] / "out"),
                                                 *train_sets(c["tmp"] / "data", **{"data.max_skipped_share": 0.5})],
         "", _broken_data, lambda c: [c["tmp"] / "data"], code=0, check=_skips_counted),
    Case("empty_eval_reference", lambda c: ["eval", str(c["run"]), "--data", str(c["tmp"] / "data"), *EVAL_SETS],
         r"record .* in .*heldout-000000\.tar, sample 0 .*empty reference", _empty_reference,
         lambda c: [c["run"]]),
    Case("translate_blank_stdin_lines", lambda c: ["translate", "-", "-c", str(c["run"]), "--json",
                                                   "--max-new-tokens", "3", "--beams", "1", "--device", "cpu"],
         "", code=0, stdin="a red circle\n\na blue square\n", check=_translate_lines),
    Case("translate_empty_text", lambda c: ["translate", "", "-c", str(c["run"]), "--device", "cpu"], "", code=0,
         check=_empty_translate),
    # tracebacks instead of one-line errors
    Case("train_out_is_file", lambda c: ["train", "micro", "--out", str(c["tmp"] / "file"), *train_sets(c["world"])],
         r"--out .*file is a file", _a_file, lambda c: [c["tmp"] / "file"]),
    Case("world_out_is_file", lambda c: ["world", "build", "--out", str(c["tmp"] / "file")], r"file is a file",
         _a_file, lambda c: [c["tmp"] / "file"]),
    Case("sweep_out_is_file", lambda c: ["sweep", "micro", "--out", str(c["tmp"] / "file"), "--set",
                                         "sweep.samples=[8]"], r"file is a file", _a_file,
         lambda c: [c["tmp"] / "file"]),
    Case("eval_out_is_file", lambda c: ["eval", str(c["run"]), "--out", str(c["tmp"] / "file")], r"file is a file",
         _a_file, lambda c: [c["tmp"] / "file", c["run"]]),
    Case("report_out_is_file", lambda c: ["report", str(c["run"]), "--out", str(c["tmp"] / "file")],
         r"file is a file", _a_file, lambda c: [c["tmp"] / "file", c["run"]]),
    Case("caption_out_is_dir", lambda c: ["caption", str(c["tmp"]), "-c", str(c["run"]), "--out", str(c["tmp"])],
         r"--out .* is a directory"),
    Case("caption_out_kept_on_failure", lambda c: ["caption", str(c["tmp"] / "not-images"), "-c", str(c["run"]),
                                                   "--out", str(c["tmp"] / "file"), "--device", "cpu"],
         r"no readable images", lambda c: (_a_file(c), _write("not-images", "text")(c)),
         lambda c: [c["tmp"] / "file"]),
    Case("caption_out_in_missing_folder", lambda c: ["caption", str(c["tmp"] / "img.png"), "-c", str(c["run"]),
                                                     "--out", str(c["tmp"] / "new" / "caps.jsonl"), "--beams", "1",
                                                     "--max-new-tokens", "3", "--device", "cpu"], "", _an_image,
         code=0, check=lambda c, out, err: [json.loads(x) for x in (c["tmp"] / "new" / "caps.jsonl").open()]),
    Case("caption_batch_size_zero", lambda c: ["caption", str(c["tmp"]), "-c", str(c["run"]), "--batch-size", "0"],
         r"--batch-size"),
    Case("device_gpu", lambda c: ["translate", "x", "-c", str(c["run"]), "--device", "gpu"], r"--device 'gpu'"),
    Case("extends_not_a_string", lambda c: ["train", str(c["tmp"] / "c.toml")], r"c\.toml: 'extends' must be",
         _write("c.toml", "extends = 5\n")),
    Case("config_not_utf8", lambda c: ["train", str(c["tmp"] / "c.toml")], r"c\.toml: not UTF-8",
         _write("c.toml", b"[train]\nlr = 1e-3 # \xff\xfe\n")),
    Case("data_without_tokenizer", lambda c: ["train", "micro", "--out", str(c["tmp"] / "r"),
                                              *train_sets(c["tmp"] / "data")],
         r"tokenizer not found in .*data.*model\.tokenizer_path", _no_tokenizer),
    Case("corrupt_latest_checkpoint", lambda c: ["train", "micro", "--out", str(c["run"]), "--resume",
                                                 *train_sets(c["world"])], "", _corrupt_latest, code=0,
         check=lambda c, out, err: [f"resuming from {c['run']}/checkpoints/{c['fallback']}" in " ".join(err.split())
                                    or pytest.fail(err)]),
    Case("eval_a_checkpoint", lambda c: ["eval", ckpt_arg(c), *EVAL_SETS], "", _copy_run, code=0,
         check=_eval_checkpoint, keep=lambda c: [c["run"] / "scores.json"]),
]
if not __import__("torch").cuda.is_available():
    CASES.append(Case("device_cuda_without_cuda", lambda c: ["translate", "x", "-c", str(c["run"]), "--device",
                                                             "cuda"], r"CUDA is not available"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, run_dir, tiny_world, tmp_path, capsys, monkeypatch):
    ctx = {"world": tiny_world, "run": run_dir, "original": run_dir, "tmp": tmp_path}
    case.prepare(ctx)
    before = {k: v for p in case.keep(ctx) for k, v in snapshot(p).items()}
    if case.stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(case.stdin))
    capsys.readouterr()
    code = main(case.args(ctx))
    out, err = capsys.readouterr()
    assert code == case.code, err[-3000:]
    assert "Traceback" not in err
    if case.code:
        errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
        assert len(errors) == 1, err
        assert __import__("re").search(case.needle, errors[0]), errors[0]
    case.check(ctx, out, err)
    assert {k: v for p in case.keep(ctx) for k, v in snapshot(p).items()} == before, "files on disk changed"


# -- cases that need a second process or no CLI ---------------------------------------------------------------


def hold_lock(directory: Path) -> subprocess.Popen:
    """Another process holding `directory`'s lock until killed."""
    code = ("import sys, time; from florenz.io import dir_lock\n"
            f"with dir_lock({str(directory)!r}):\n    print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_locked_run_dir_is_refused_and_a_sweep_skips_it(tiny_world, tmp_path, capsys):
    run = tmp_path / "sweep" / "micro-gemma-xxs__S16__T0__seed0"
    holder = hold_lock(run)
    try:
        assert main(["train", "micro", "--out", str(run), *train_sets(tiny_world)]) == 1
        assert f"run directory {run.resolve()} is in use by another process (pid {holder.pid})" in \
            capsys.readouterr().err
        sets = ["sweep.presets=micro-gemma-xxs", "sweep.samples=[16]", "sweep.decoder_languages=[0]",
                "sweep.seeds=[0]", "train.decoder_lm_samples=0", "train.batch_size=8", "train.threads=1",
                f"data.path={tiny_world}", f"data.cache_dir={tiny_world.parent}"]
        assert main(["sweep", "micro", "--out", str(tmp_path / "sweep"), *[a for s in sets for a in ("--set", s)],
                     "--json"]) == 0
        captured = capsys.readouterr()
        assert json.loads(captured.out)["locked"] == [run.name]
        assert f"skipped {run.name}" in " ".join(captured.err.split())
        assert not (run / "result.json").exists()  # nothing trained into the held directory
    finally:
        holder.kill()
        holder.wait()


def test_eval_into_a_locked_run_is_refused(run_dir, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    before = snapshot(run)
    holder = hold_lock(run)  # e.g. a training process rewriting model/
    try:
        assert main(["eval", str(run), *EVAL_SETS]) == 1
        assert "is in use by another process" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert snapshot(run) == before


def test_second_sweep_waits_for_the_first(tmp_path, capsys):
    from florenz.config import load_config
    from florenz.sweep.run import run_sweep

    holder = hold_lock(tmp_path / "sweep")
    t0 = time.time()
    try:
        subprocess.Popen([sys.executable, "-c", f"import time, os; time.sleep(1.5); os.kill({holder.pid}, 9)"])
        run_sweep(load_config("micro", ["sweep.presets=micro-gemma-xxs"]), tmp_path / "sweep", specs=[])
    finally:
        holder.kill()
        holder.wait()
    assert time.time() - t0 >= 1.0
    assert f"waiting for the other process (pid {holder.pid})" in " ".join(capsys.readouterr().err.split())


def test_stale_scores_are_not_current(run_dir, tmp_path):
    from florenz.sweep.grid import run_status

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    assert run_status(run) == "done"
    scores = run / "scores.json"
    os.utime(scores, ns=(1, 1))  # older than the model it claims to score
    assert run_status(run) == "trained"


def test_atomic_writes_respect_the_umask(tmp_path):
    from florenz.io import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644


def test_relative_extends_is_read_beside_the_config(tmp_path, monkeypatch):
    from florenz.config import load_config

    (tmp_path / "cfgs").mkdir()
    (tmp_path / "cfgs" / "base.toml").write_text("[train]\nlr = 0.25\n")
    (tmp_path / "cfgs" / "child.toml").write_text('extends = "base.toml"\n[train]\nseed = 3\n')
    monkeypatch.chdir(ROOT)  # another folder than the config's
    cfg = load_config(tmp_path / "cfgs" / "child.toml")
    assert cfg.train.lr == 0.25 and cfg.train.seed == 3


def test_grad_clip_off_is_explicit():
    from florenz.config import load_config

    assert load_config(None, ["train.grad_clip=off"]).train.max_grad_norm == float("inf")
    assert load_config(None, ["train.grad_clip=0.5"]).train.max_grad_norm == 0.5
