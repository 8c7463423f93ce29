"""`florenz --help` (and every subcommand's) starts at once: no torch/matplotlib/scipy/pandas at start-up,
and at most 0.5 s of CPU for the whole process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "matplotlib", "scipy", "pandas", "transformers")
COMMANDS = [[], ["world"], ["world", "build"], ["world", "show"], ["data"], ["data", "build"], ["data", "mixture"],
            ["models"], ["train"], ["eval"], ["score"], ["sweep"], ["fit"], ["plan"], ["report"], ["demo"],
            ["caption"], ["translate"]]

PROBE = """
import json, resource, sys
from florenz.cli import main
rc = main(sys.argv[1:] + ["--help"])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(%r)))
cpu = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"rc": rc, "heavy": heavy, "cpu": cpu.ru_utime + cpu.ru_stime}))
"""


def _probe(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE % json.dumps(HEAVY), *args], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "100"}, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "florenz")
def test_help_imports_nothing_heavy(args):
    res = _probe(args)
    assert res["rc"] == 0
    assert res["heavy"] == [], f"`florenz {' '.join(args)} --help` imports {res['heavy']}"
    if res["cpu"] > 0.5:  # CPU time barely moves with load, but give a burst on a shared machine one retry
        res = _probe(args)
    assert res["cpu"] <= 0.5, f"`florenz {' '.join(args)} --help` used {res['cpu']:.2f} s of CPU (budget 0.5 s)"


def test_help_cpu_budget():
    # The best of three runs, so another job's burst on a shared machine does not decide the verdict.
    best = min(_probe([])["cpu"] for _ in range(3))
    assert best <= 0.5, f"`florenz --help` used {best:.2f} s of CPU (budget 0.5 s)"
