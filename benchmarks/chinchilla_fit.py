"""Benchmark: Chinchilla Huber fit on Epoch's public data (wall time and agreement with Epoch's refit).

Also checks that refining only the best `top_k` grid starts finds the same optimum as refining many more
(the pruning claim), and times the bootstrap. Run: python benchmarks/chinchilla_fit.py [--boot 300]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from florenz.scaling.chinchilla import fit_chinchilla

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chinchilla" / "svg_extracted_data.csv"
EPOCH_BRIEF = {"A": 478, "B": 2144, "E": 1.82, "alpha": 0.347, "beta": 0.367}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boot", type=int, default=300)
    ap.add_argument("--wide", type=int, default=300, help="top_k for the wide-search reference fit")
    args = ap.parse_args()
    df = pd.read_csv(DATA).sort_values("loss").iloc[:-5]
    p = df["Model Size"].to_numpy()
    s = df["Training FLOP"].to_numpy() / (6 * p)
    y = df["loss"].to_numpy()
    t0 = time.perf_counter()
    fit = fit_chinchilla(p, s, y, n_bootstrap=args.boot)
    total = time.perf_counter() - t0
    t1 = time.perf_counter()
    wide = fit_chinchilla(p, s, y, n_bootstrap=0, top_k=args.wide)
    wide_s = time.perf_counter() - t1
    out = {
        "n_points": len(y),
        "params": fit.params,
        "ci95": fit.ci,
        "reference_brief": EPOCH_BRIEF,
        "fit_seconds": round(fit.fit_seconds, 3),
        "starts_refined": fit.starts_refined,
        "bootstrap_seconds": round(fit.bootstrap_seconds, 3),
        "n_bootstrap": fit.n_bootstrap,
        "total_seconds": round(total, 3),
        "wide_search": {"top_k": args.wide, "seconds": round(wide_s, 3), "huber_loss": wide.loss,
                        "params": wide.params},
        "huber_loss": fit.loss,
        "same_optimum_as_wide": abs(wide.loss - fit.loss) <= 1e-9 + 1e-6 * wide.loss,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
