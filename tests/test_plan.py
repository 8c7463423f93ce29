"""`florenz plan` on laws with known answers: exact coefficients files and law-generated runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from florenz.cli import main
from florenz.io import write_json
from florenz.scaling.plan import law_from_file, plan_budget, plan_target
from florenz.scaling.synthetic import TRUE, make_runs

B0, B1, B2, B3 = 1.6, -0.30, -0.10, -0.05  # log10 y = b0 + b1 log10 P + b2 log10 S + b3 log10 T
K, R = 64.0, 0.6  # C = S * K * P * (1 + R)


def _exact_file(tmp_path, **extra):
    spec = {"source": "synthetic test law", "form": "multivariate", "group": "UC",
            "coef": {"intercept": B0, "P": B1, "S": B2, "T": B3}, "flops_per_param_sample": K, "trainable_share": R,
            "sizes": [1e5, 1e6, 1e7], **extra}
    write_json(tmp_path / "law.json", spec)
    return tmp_path / "law.json"


def _s_needed(p, y, t):
    return 10 ** ((np.log10(y) - B0 - B1 * np.log10(p) - B3 * np.log10(t)) / B2)


def test_target_and_budget_match_the_algebra(tmp_path):
    law = law_from_file(_exact_file(tmp_path), t=4)
    res = plan_target(law, 0.3)
    for row in res["per_size"]:
        assert row["S"] == pytest.approx(_s_needed(row["P"], 0.3, 4), rel=1e-3)
        assert row["C"] == pytest.approx(row["S"] * K * row["P"] * (1 + R), rel=1e-9)
    assert res["best"]["C"] == min(r["C"] for r in res["per_size"])
    res = plan_budget(law, 1e14)
    for row in res["per_size"]:
        s = 1e14 / (K * row["P"] * (1 + R))
        assert row["mean"] == pytest.approx(10 ** (B0 + B1 * np.log10(row["P"]) + B2 * np.log10(s) + B3 * np.log10(4)))
    assert np.isnan(res["per_size"][0]["ci_low"])  # no covariance in the file: no interval, not a fake one


def test_intervals_from_a_covariance(tmp_path):
    cov = np.diag([1e-4, 1e-5, 1e-5, 1e-5]).tolist()
    law = law_from_file(_exact_file(tmp_path, cov=cov, dof=20, sigma_log10=0.02), t=4)
    row = plan_target(law, 0.3)["per_size"][1]
    assert row["S_pi"][0] < row["S_ci"][0] < row["S"] < row["S_ci"][1] < row["S_pi"][1]


def test_chinchilla_file_unreachable_below_e(tmp_path):
    write_json(tmp_path / "c.json", {"form": "chinchilla", "coef": {"E": 1.7, "A": 400, "B": 1500, "alpha": 0.34,
                                                                    "beta": 0.28},
                                     "flops_per_param_sample": 6, "sizes": [1e9, 1e10]})
    law = law_from_file(tmp_path / "c.json")
    small, big = plan_target(law, 2.0)["per_size"]
    assert small["S"] == np.inf  # 1.7 + 400 / 1e9^0.34 = 2.05 > 2.0: no amount of data gets P = 1e9 there
    assert big["S"] == pytest.approx((1500 / (2.0 - 1.7 - 400 / 1e10**0.34)) ** (1 / 0.28), rel=2e-3)
    assert plan_target(law, 1.6)["best"] is None  # below the irreducible loss E: no size reaches it


def test_plan_cli_from_runs_recovers_the_true_law(tmp_path, capsys):
    root = make_runs(tmp_path / "runs", noise=0.005)
    assert main(["plan", str(root), "--target-ce", "0.3", "--T", "4", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    b0, b1, b2, b3 = TRUE["UC"]
    for row in res["per_size"]:
        true_s = 10 ** ((np.log10(0.3) - b0 - b1 * np.log10(row["P"]) - b3 * np.log10(4)) / b2)
        assert row["S_pi"][0] <= true_s <= row["S_pi"][1], (row, true_s)
    assert (root / "plan" / "plan.png").is_file() and (root / "plan" / "plan.json").is_file()
    assert len(res["frontier"]) > 10 and all(f["P"] in (1e5, 3e5, 1e6, 3e6) for f in res["frontier"])


@pytest.mark.parametrize(("args", "needle"), [
    (["--target-ce", "1"], "either RUNS_DIR or --coefficients"),
    (["RUNS", "--target-ce", "1", "--compute", "1e9"], "one question"),
    (["RUNS", "--target-ce", "-1"], "--target-ce must be a positive"),
    (["RUNS", "--compute", "1e12", "--law", "chinchilla", "--bootstrap", "20"], "not identifiable"),
    (["RUNS", "--compute", "1e12", "--sizes", "big"], "--sizes"),
    (["RUNS", "--compute", "1e12", "--out", "RUNS/p100000-s10000-t1/result.json"], "is not a directory"),
])
def test_plan_cli_errors_are_one_line(tmp_path, capsys, args, needle):
    root = make_runs(tmp_path / "runs", noise=0.005)
    rc = main(["plan", *[a.replace("RUNS", str(root)) for a in args]])
    err = capsys.readouterr().err
    assert rc == 1 and needle in err and len(err.strip().splitlines()) == 1, err
