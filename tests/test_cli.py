from __future__ import annotations

import subprocess
import sys

from florenz.cli import main

SUBCOMMANDS = ["world", "models", "train", "eval", "score", "sweep", "fit", "report", "demo", "data"]


def test_help_lists_subcommands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_each_subcommand_has_help(capsys):
    for name in SUBCOMMANDS:
        assert main([name, "--help"]) == 0, name
        assert "Usage" in capsys.readouterr().out


def test_console_script_one_line_error_for_bad_key():
    proc = subprocess.run(
        [sys.executable, "-m", "florenz.cli", "train", "micro", "--set", "train.bogus=1", "--out", "/tmp/x"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "train.bogus" in lines[0], proc.stderr
