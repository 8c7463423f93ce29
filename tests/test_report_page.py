"""The report page: run table (with shuffled controls), gallery with Chinese text, training curves, one line
per model size in quality-vs-compute."""

from __future__ import annotations

import base64
import io
import re

from florenz.io import append_jsonl, read_json, write_json, write_jsonl
from florenz.report.report import build_report
from florenz.scaling.synthetic import make_runs
from florenz.scaling.table import load_runs

ZH = "一个红色的三角形"


def _decorate(root):
    for i, d in enumerate(sorted(root.iterdir())):
        sc = read_json(d / "scores.json")
        sc["summary"]["uc_attribute_accuracy_prefix_shuffled"] = 3.0 + i
        write_json(d / "scores.json", sc)
        for k in range(1, 4):
            append_jsonl(d / "log.jsonl", {"step": k, "stage": "vl", "samples": 8 * k, "loss": 5.0 / k})
        write_jsonl(d / "outputs" / "generation_prefix.jsonl",
                    [{"id": "heldout_000000", "lang": "zh", "mode": "prefix", "text": ZH, "refs": [ZH + "在左边"]},
                     {"id": "heldout_000000", "lang": "fr", "mode": "prefix", "text": "un triangle", "refs": ["x"]}])
        write_jsonl(d / "outputs" / "generation_no_prefix.jsonl",
                    [{"id": "heldout_000000", "lang": "zh", "mode": "no_prefix", "text": "a red", "refs": [ZH]}])


def test_report_page(tmp_path):
    root = make_runs(tmp_path / "runs", params=(1e5, 1e6), samples=(1e4, 1e5), langs=(1, 2))
    _decorate(root)
    rep = build_report(root, tmp_path / "out", chinchilla=False)
    html = (tmp_path / "out" / "report.html").read_text()
    md = (tmp_path / "out" / "report.md").read_text()
    assert "UC acc +pfx shuffled" in md and "UC acc +pfx shuffled" in html
    assert len(rep.gallery) == 1 and set(rep.gallery[0].outputs) == {"micro-100000 (S=1e+05)",
                                                                      "micro-1000000 (S=1e+05)"}
    gal = html.split("Gallery")[1]
    assert ZH in gal and "un triangle" in gal and "a red" in gal
    from fontTools.ttLib import TTFont

    font = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)\) format\('opentype'\)", html).group(1))
    cmap = TTFont(io.BytesIO(font)).getBestCmap()
    assert all(ord(c) in cmap for c in ZH + "在左边")  # the page's Chinese is in the embedded font
    assert "training_curves" in rep.files


def test_quality_vs_compute_one_line_per_size(tmp_path):
    import matplotlib.pyplot as plt

    from florenz.scaling import plots

    root = make_runs(tmp_path / "runs", params=(1e5, 3e5, 1e6), samples=(1e4, 1e5, 1e6), langs=(1,))
    runs = load_runs(root).runs
    captured = {}
    orig = plots._save
    plots._save = lambda fig, path: captured.setdefault("fig", fig) and path  # noqa: E731
    try:
        plots.plot_quality_vs_compute(runs, tmp_path / "q.png")
    finally:
        plots._save = orig
    ax = captured["fig"].axes[0]
    assert len(ax.lines) == 3  # one per model size, not one zig-zag through all runs
    for line in ax.lines:  # each line is monotone in C (the runs of one size ordered by samples)
        x = line.get_xdata()
        assert list(x) == sorted(x)
    plt.close(captured["fig"])


def test_seed_spread_table_with_grounding(tmp_path):
    from florenz.report.runs_view import seed_table

    for seed in (0, 1, 2):
        make_runs(tmp_path / "runs" / f"seed{seed}", params=(1e5,), samples=(1e4, 1e5), langs=(1,), seed=seed)
    for d in (tmp_path / "runs").rglob("scores.json"):
        sc = read_json(d)
        sc["summary"]["uc_attribute_accuracy_prefix_shuffled"] = sc["summary"]["uc_attribute_accuracy_prefix"] / 2
        write_json(d, sc)
    head, rows = seed_table(load_runs(tmp_path / "runs").runs)
    assert len(rows) == 2 and rows[0][head.index("seeds")] == "3"
    assert rows[0][head.index("UC acc / shuffled")].startswith("2 [2, 2]")
    lo, hi = (float(x) for x in rows[0][head.index("UC acc +pfx")].split("[")[1].rstrip("]").split(","))
    assert lo < hi  # the spread over the three seeds, not one number
    assert seed_table(load_runs(tmp_path / "runs" / "seed0").runs) is None  # one seed: no spread to show
