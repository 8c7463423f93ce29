"""Scaling fits: parameter recovery on synthetic data, the public Chinchilla refit, frontier, table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from florenz.errors import FlorenzError
from florenz.scaling.chinchilla import fit_chinchilla
from florenz.scaling.fit import fit_loglinear
from florenz.scaling.frontier import pareto_mask
from florenz.scaling.laws import fit_runs, leave_largest_out
from florenz.scaling.synthetic import TRUE, make_runs
from florenz.scaling.table import compute_axis, load_runs


def test_loglinear_recovers_parameters_and_intervals_cover():
    rng = np.random.default_rng(1)
    p, s = 10 ** rng.uniform(5, 8, 80), 10 ** rng.uniform(4, 7, 80)
    y = 10 ** (1.3 - 0.25 * np.log10(p) - 0.1 * np.log10(s) + rng.normal(0, 0.02, 80))
    fit = fit_loglinear({"P": p, "S": s}, y)
    for name, true in (("intercept", 1.3), ("P", -0.25), ("S", -0.1)):
        q = fit.param(name)
        assert q["ci_low"] < true < q["ci_high"], (name, q)
        assert q["p"] < 1e-6
    assert fit.r2 > 0.95
    pr = fit.predict([[1e6, 1e5]])
    assert pr["pi_low"][0] < pr["ci_low"][0] < pr["mean"][0] < pr["ci_high"][0] < pr["pi_high"][0]
    # A regressor without effect must not look significant.
    noise = fit_loglinear({"P": p, "Z": 10 ** rng.uniform(0, 3, 80)}, y)
    assert noise.param("Z")["ci_low"] < 0 < noise.param("Z")["ci_high"] or noise.param("Z")["p"] > 0.01


def test_loglinear_rejects_bad_input():
    with pytest.raises(FlorenzError, match="row 2"):
        fit_loglinear({"P": [1.0, 2.0, -3.0, 4.0]}, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(FlorenzError, match="constant"):
        fit_loglinear({"P": [2.0, 2.0, 2.0, 2.0]}, [1.0, 2.0, 3.0, 4.0])


def test_chinchilla_recovers_synthetic_parameters():
    rng = np.random.default_rng(0)
    true = {"E": 1.7, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.28}
    p = 10 ** rng.uniform(7, 10, 120)
    s = 10 ** rng.uniform(9, 12, 120)
    y = (true["E"] + true["A"] / p ** true["alpha"] + true["B"] / s ** true["beta"]) * np.exp(rng.normal(0, 0.005, 120))
    fit = fit_chinchilla(p, s, y, n_bootstrap=40)
    assert fit.params["E"] == pytest.approx(true["E"], rel=0.05)
    assert fit.params["alpha"] == pytest.approx(true["alpha"], abs=0.03)
    assert fit.params["beta"] == pytest.approx(true["beta"], abs=0.03)
    for k in ("E", "alpha", "beta"):
        lo, hi = fit.ci[k]
        assert lo <= fit.params[k] <= hi
    band = fit.interval([1e9], [1e11])
    assert band["pi_low"][0] < band["mean"][0] < band["pi_high"][0]


def test_chinchilla_public_data_matches_epoch_refit(shared_data):
    df = pd.read_csv(shared_data / "chinchilla" / "svg_extracted_data.csv")
    df = df.sort_values("loss").iloc[:-5]  # Epoch dropped the 5 highest-loss points
    p = df["Model Size"].to_numpy()
    tokens = df["Training FLOP"].to_numpy() / (6 * p)
    fit = fit_chinchilla(p, tokens, df["loss"].to_numpy(), n_bootstrap=20)
    got = fit.params
    assert got["E"] == pytest.approx(1.82, abs=0.03)
    assert got["A"] == pytest.approx(478, rel=0.1)
    assert got["B"] == pytest.approx(2144, rel=0.1)
    assert got["alpha"] == pytest.approx(0.347, abs=0.01)
    assert got["beta"] == pytest.approx(0.367, abs=0.01)
    assert fit.fit_seconds < 30


def test_chinchilla_rejects_nonpositive():
    with pytest.raises(FlorenzError, match="row 3"):
        fit_chinchilla([1, 2, 3, 0, 5, 6, 7], [1] * 7, [1] * 7, n_bootstrap=0)


def test_pareto_mask():
    c = np.array([1, 2, 3, 4, 4, 5])
    y = np.array([5, 6, 4, 3, 2.5, 3.5])
    assert pareto_mask(c, y).tolist() == [True, False, True, False, True, False]


def test_compute_axis():
    assert compute_axis(10, 100, 50, 100) == pytest.approx(1500)


def test_table_and_laws_from_runs_dir(tmp_path):
    root = make_runs(tmp_path / "runs", drop_scores=3, noise=0.005)
    table = load_runs(root)
    assert len(table.runs) == 48 and table.n_without_scores == 3
    r = table.runs.iloc[0]
    assert r["C"] == pytest.approx(r["S"] * r["F"] * (1 + r["Pt"] / r["P"]))
    laws = fit_runs(table.runs, chinchilla=False)
    mv = laws.get("UC", "multivariate")
    assert mv.n == 45
    for name, true in zip(("intercept", "P", "S", "T"), TRUE["UC"], strict=True):
        q = mv.fit.param(name)
        assert q["ci_low"] - 0.01 < true < q["ci_high"] + 0.01, (name, q)
    assert mv.extrapolation["mean_abs_rel_error"] < 0.05
    assert laws.get("ST", "compute").fit.param("C")["ci_high"] < 0


def test_leave_largest_out_measures_extrapolation():
    x = np.array([1, 2, 4, 8, 16, 32.0])[:, None]
    y = 3 * x[:, 0] ** -0.5
    y[-1] *= 2  # the largest model breaks the law: the check must see it
    ext = leave_largest_out(x, y, x[:, 0], lambda a, b: fit_loglinear({"x": a[:, 0]}, b))
    assert ext["held_out"] == 1 and ext["mean_abs_rel_error"] == pytest.approx(0.5, abs=1e-6)


def test_table_errors(tmp_path):
    with pytest.raises(FlorenzError, match="no runs"):
        load_runs(tmp_path)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "result.json").write_text('{"params": 1}')
    with pytest.raises(FlorenzError, match="trainable_params"):
        load_runs(tmp_path)
