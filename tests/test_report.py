"""Report and claims on synthetic runs dirs; the fit/report CLIs end to end."""

from __future__ import annotations

import base64
import json
import zlib

import numpy as np
import pandas as pd
import pytest

from florenz.cli import main
from florenz.io import read_json, write_json
from florenz.report.claims import check_claims, headline_findings
from florenz.report.report import build_report
from florenz.scaling.synthetic import make_runs
from florenz.scaling.table import load_runs


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("runs") / "runs", drop_scores=2)


def test_claims_supported_on_law_generated_runs(runs_dir):
    claims = {c.id: c for c in check_claims(load_runs(runs_dir).runs)}
    assert set(claims) == {"power_law_UC", "power_law_ST", "power_law_SC", "uc_size_over_samples",
                           "uc_prefix_needed", "uc_grows_with_T", "uc_fidelity_grows_with_T", "uc_grounded",
                           "sc_grounded"}
    for c in claims.values():
        if c.id.endswith("_grounded"):  # the synthetic runs carry no image-shuffled control
            assert c.verdict.startswith("not testable") and "shuffled" in c.verdict
            continue
        assert c.verdict == "supported", (c.id, c.evidence)
    assert claims["uc_size_over_samples"].numbers["abs_b1_minus_abs_b2"]["ci_low"] > 0
    assert "[" in claims["power_law_UC"].evidence  # the CI is shown


def test_claims_fail_when_data_contradicts(tmp_path):
    root = make_runs(tmp_path / "r", params=(1e5, 1e6), samples=(1e4, 1e5, 1e6), langs=(1, 2), noise=0.0)
    for d in root.iterdir():  # flat CE (no power law), prefix does nothing, quality independent of T
        sc = read_json(d / "scores.json")
        rng = np.random.default_rng(zlib.crc32(d.name.encode()))  # reproducible (hash() is salted)
        sc["groups"] = {g: float(1 + rng.normal(0, 0.05)) for g in ("UC", "ST", "SC")}
        sc["summary"] = {"uc_fidelity_prefix": 60.0, "uc_fidelity_no_prefix": 60.0,
                         "uc_attribute_accuracy_prefix": float(30 + rng.normal(0, 2)),
                         "uc_attribute_accuracy_no_prefix": 30.0}
        write_json(d / "scores.json", sc)
    claims = {c.id: c for c in check_claims(load_runs(root).runs)}
    assert claims["uc_prefix_needed"].verdict == "not supported"
    assert claims["uc_grows_with_T"].verdict == "not supported"
    assert claims["uc_size_over_samples"].verdict == "not supported"
    assert all(claims[f"power_law_{g}"].verdict != "supported" for g in ("UC", "ST", "SC"))


def test_claims_not_testable_with_few_runs(tmp_path):
    root = make_runs(tmp_path / "r", params=(1e5,), samples=(1e4, 1e5), langs=(1,))
    claims = {c.id: c for c in check_claims(load_runs(root).runs)}
    assert claims["power_law_UC"].verdict.startswith("not testable")
    assert "2 frontier points" in claims["power_law_UC"].verdict or "2 frontier" in claims["power_law_UC"].evidence
    assert claims["uc_size_over_samples"].verdict.startswith("not testable")
    assert claims["uc_grows_with_T"].verdict.startswith("not testable")
    assert claims["uc_prefix_needed"].verdict.startswith("not testable")
    lines = headline_findings(list(claims.values()), n_runs=2)
    assert lines[0].startswith("2 runs")


def test_build_report_writes_files(runs_dir, tmp_path):
    rep = build_report(runs_dir, tmp_path / "out", chinchilla=True, n_bootstrap=10)
    md = (tmp_path / "out" / "report.md").read_text()
    html = (tmp_path / "out" / "report.html").read_text()
    assert rep.n_runs == 48 and rep.n_without_scores == 2
    assert "2 without scores.json" in md
    for key in ("fig3_compute", "fig4_params", "fig5_prefix", "quality_vs_compute"):
        png = rep.files[key]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.relative_to(tmp_path / "out").as_posix() in md
        assert base64.b64encode(png.read_bytes()).decode() in html  # inlined: one self-contained file
    assert 'src="figures/' not in html and "@font-face" in html
    assert "supported" in md and "<table>" in html and "chinchilla" in md
    assert "claims supported" in html.split("<h2>Runs</h2>")[0]  # the verdict summary comes first
    assert "| run | preset | P | S | T | seed | C (FLOP) | CE UC |" in md
    assert "## How big, how much data" in md and "With 10x the largest compute" in md and "plan" in rep.files
    assert rep.laws.get("UC", "chinchilla").fit is not None


def test_fit_cli_csv_chinchilla_json(tmp_path, capsys):
    rng = np.random.default_rng(3)
    p, s = 10 ** rng.uniform(7, 10, 60), 10 ** rng.uniform(9, 12, 60)
    loss = 1.8 + 500 / p**0.35 + 2000 / s**0.37
    pd.DataFrame({"params": p, "samples": s, "loss": loss}).to_csv(tmp_path / "t.csv", index=False)
    assert main(["fit", "--csv", str(tmp_path / "t.csv"), "--law", "chinchilla", "--bootstrap", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"E", "A", "B", "alpha", "beta"} <= set(out)
    assert out["E"] == pytest.approx(1.8, rel=0.02) and out["alpha"] == pytest.approx(0.35, abs=0.02)
    assert main(["fit", "--csv", str(tmp_path / "t.csv"), "--law", "loglinear"]) == 0
    assert "95% CI" in capsys.readouterr().out


def test_fit_cli_bad_row_named(tmp_path, capsys):
    pd.DataFrame({"params": [1, 2, 3, 4], "samples": [1, 2, None, 4], "loss": [1, 2, 3, 4]}).to_csv(
        tmp_path / "t.csv", index=False)
    assert main(["fit", "--csv", str(tmp_path / "t.csv"), "--law", "loglinear"]) == 1
    err = capsys.readouterr().err
    assert "row 3" in err and "samples" in err and len(err.strip().splitlines()) == 1
    assert main(["fit", "--csv", str(tmp_path / "t.csv"), "--x", "params,nope"]) == 1
    assert "nope" in capsys.readouterr().err


def test_fit_and_report_cli_on_runs_dir(runs_dir, tmp_path, capsys):
    assert main(["fit", str(runs_dir), "--no-chinchilla"]) == 0
    assert "multivariate" in capsys.readouterr().out
    assert main(["report", str(runs_dir), "--out", str(tmp_path / "o"), "--no-chinchilla", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_without_scores"] == 2 and len(out["claims"]) == 9
    assert (tmp_path / "o" / "report.html").is_file()


def _seeded_runs(seed_effects: dict[int, float]) -> pd.DataFrame:
    """Runs of 3 seeds x 4 points whose UC accuracy beats its shuffled control by a per-seed effect."""
    rng = np.random.default_rng(0)
    rows = []
    for seed, effect in seed_effects.items():
        for k in range(4):
            base = 20 + rng.normal(0, 1)
            rows.append({"seed": seed, "preset": f"p{k % 2}", "S": 1e4 * (1 + k // 2), "T": 6, "C": 1e9 * (k + 1),
                         "uc_attribute_accuracy_prefix": base + effect + rng.normal(0, 1),
                         "uc_attribute_accuracy_prefix_shuffled": base})
    return pd.DataFrame(rows)


def test_grounded_claim_needs_every_seed():
    from florenz.report.claims import across_seeds, grounded_claim

    good = across_seeds(_seeded_runs({0: 20.0, 1: 18.0, 2: 22.0}), grounded_claim)
    assert good.verdict == "supported" and good.numbers["seeds_supported"] == 3
    assert good.numbers["ci_low"] > 0 and good.numbers["ratio_of_means"] > 1.5
    # strong on two seeds, nothing on the third: pooled it looks fine, across seeds it is not a finding
    mixed = across_seeds(_seeded_runs({0: 30.0, 1: 30.0, 2: 0.0}), grounded_claim)
    assert mixed.verdict.startswith("not supported") and "2 of 3 seeds" in mixed.verdict
    assert mixed.numbers["per_seed"][2] == "not supported"
    none = across_seeds(_seeded_runs({0: 0.0, 1: 0.0, 2: 0.0}), grounded_claim)
    assert none.verdict == "not supported"


def test_uc_grounding_is_judged_at_the_highest_t():
    """The low-T arm of the T contrast writes no UC captions (accuracy ~0 with or without the image): its runs are
    left out of the UC grounding claim, which they would otherwise drown, while SC grounding keeps every run."""
    from florenz.report.claims import across_seeds, grounded_claim

    main = _seeded_runs({0: 6.0, 1: 6.0, 2: 6.0})
    low = main.assign(T=1, uc_attribute_accuracy_prefix=0.0, uc_attribute_accuracy_prefix_shuffled=0.0)
    both = pd.concat([main, low], ignore_index=True)
    uc = across_seeds(both, grounded_claim)
    assert uc.verdict == "supported" and uc.numbers["n"] == len(main) and "highest T" in uc.statement
    assert uc.numbers["accuracy_mean"] == pytest.approx(main["uc_attribute_accuracy_prefix"].mean())
    flat = both.assign(T=6)  # one T in the table: every run counts
    assert across_seeds(flat, grounded_claim).numbers["n"] == len(both)
    sc = both.assign(sc_attribute_accuracy_prefix=both["uc_attribute_accuracy_prefix"] + 1,
                     sc_attribute_accuracy_prefix_shuffled=both["uc_attribute_accuracy_prefix_shuffled"])
    assert grounded_claim(sc, "sc").numbers["n"] == len(both)


def test_seed_too_small_to_judge_alone_counts_by_its_effect():
    from florenz.report.claims import across_seeds, grows_with_t_claim

    rows = [{"seed": sd, "preset": "p", "S": 1e4, "C": 1e9, "T": t, "uc_attribute_accuracy_prefix": v}
            for sd, (lo, hi) in {0: (2.0, 12.0), 1: (1.0, 9.0), 2: (3.0, 15.0)}.items() for t, v in ((1, lo), (6, hi))]
    good = across_seeds(pd.DataFrame(rows), grows_with_t_claim,
                        lambda d: float(d[d["T"] == 6]["uc_attribute_accuracy_prefix"].mean()
                                        - d[d["T"] == 1]["uc_attribute_accuracy_prefix"].mean()))
    assert good.verdict == "supported" and good.numbers["per_seed_effect"] == {0: 10.0, 1: 8.0, 2: 12.0}
    rows[-1]["uc_attribute_accuracy_prefix"] = 1.0  # seed 2: T = 6 now below T = 1
    bad = across_seeds(pd.DataFrame(rows), grows_with_t_claim,
                       lambda d: float(d[d["T"] == 6]["uc_attribute_accuracy_prefix"].mean()
                                       - d[d["T"] == 1]["uc_attribute_accuracy_prefix"].mean()))
    assert bad.verdict.startswith("not supported")


def test_two_pairs_per_seed_are_judged_by_their_effect_not_a_one_dof_test():
    """A seed with 2 pairs (2 sizes x T = 1, 6, as in the demo) is too small for a paired t-test (1 degree of
    freedom): it is "not testable" alone and counts by the sign of its gap; the pooled test still decides."""
    from florenz.report.claims import across_seeds, grows_with_t_claim

    gaps = {0: (9.0, 2.0), 1: (5.0, 1.0), 2: (12.0, 3.0)}  # per seed, per size: T = 6 minus T = 1
    rows = [{"seed": sd, "preset": f"p{k}", "S": 1e4, "C": 1e9, "T": t,
             "uc_attribute_accuracy_prefix": 1.0 + (g if t == 6 else 0.0)}
            for sd, gs in gaps.items() for k, g in enumerate(gs) for t in (1, 6)]
    d = pd.DataFrame(rows)

    def effect(x):
        return float(x[x["T"] == 6]["uc_attribute_accuracy_prefix"].mean()
                     - x[x["T"] == 1]["uc_attribute_accuracy_prefix"].mean())

    assert grows_with_t_claim(d[d["seed"] == 0]).verdict.startswith("not testable")
    good = across_seeds(d, grows_with_t_claim, effect)
    assert good.verdict == "supported" and good.numbers["n_pairs"] == 6
    assert good.numbers["per_seed_effect"] == {0: 5.5, 1: 3.0, 2: 7.5}
    d.loc[(d["seed"] == 1) & (d["T"] == 6), "uc_attribute_accuracy_prefix"] = 0.0  # seed 1: T = 6 below T = 1
    assert across_seeds(d, grows_with_t_claim, effect).verdict.startswith("not supported")
