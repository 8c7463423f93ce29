"""report.md + report.html for a runs directory: verdicts, the run table, a gallery of what the models wrote,
plots, fitted laws and the paper's claims checked.

The report is built once as a list of blocks and rendered to both Markdown and HTML (`report/html.py`), so
the two can never disagree. report.html is one self-contained file: figures and gallery images are inlined
and the CJK font is embedded as a subset, so it opens anywhere and Chinese renders as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from florenz.io import atomic_write_bytes, write_json
from florenz.report.claims import Claim, check_claims, headline_findings
from florenz.report.html import render_html
from florenz.report.runs_view import GalleryItem, gallery, run_table, seed_table, training_curves
from florenz.scaling import plots
from florenz.scaling.laws import LAW_HEADER, Laws, fit_runs, law_rows
from florenz.scaling.table import load_runs

Block = tuple[str, object]  # ("h1" | "h2" | "p" | "ul" | "table" | "img" | "verdicts" | "gallery", payload)

CAPTIONS = {
    "fig3_compute": "CE vs compute per group, coloured by model size, Pareto frontier ringed, compute law with "
                    "95% CI (cf. paper Fig. 3)",
    "fig4_params": "Predicted UC CE vs parameters with 95% CI and PI, one decade of extrapolation (cf. paper Fig. 4)",
    "fig5_prefix": "Unseen-language captioning with vs without the prefix per model size; whiskers: seed spread "
                   "(cf. paper Fig. 5)",
    "quality_vs_compute": "UC attribute accuracy and language fidelity (with prefix) vs compute, one line per model "
                          "size, band: seed spread",
    "training_curves": "Training loss vs samples seen, per stage, one line per run (from log.jsonl)",
    "plan": "How big, how much data: predicted UC CE vs compute per model size (95% CI bands) and the "
            "compute-optimal frontier over the sizes, from the UC multivariate law (`florenz plan`)",
}


def _plan_section(runs, laws: Laws, figs: Path) -> tuple[list[str], Path | None]:
    """The report's answer to "what would 10x more compute buy": `florenz plan` on the UC multivariate law."""
    from florenz.scaling.plan import frontier, plan_budget, plan_law

    law = laws.get("UC", "multivariate")
    if law is None or not law.usable:
        return [f"No plan: the UC multivariate law is {law.status if law else 'missing'}."], None
    plaw = plan_law(law, runs)
    budget = 10 * float(runs["C"].max())
    res = plan_budget(plaw, budget)
    lines = [f"With 10x the largest compute here (C = {budget:.3g} FLOP), per model size: " + "; ".join(
        f"P = {r['P']:.3g}: S = {r['S']:.3g}, UC CE {r['mean']:.4g} (95% CI {r['ci_low']:.4g}-{r['ci_high']:.4g}, "
        f"PI {r['pi_low']:.4g}-{r['pi_high']:.4g})" + (" [extrapolated]" if r["extrapolated"] else "")
        for r in res["per_size"]),
        f"Best: P = {res['best']['P']:.3g}. Ask other questions with `florenz plan RUNS_DIR --target-ce Y` "
        "or `--compute C`."]
    front = frontier(plaw, float(runs["C"].min()), budget * 10)
    path = plots.plot_plan(plaw, front, figs / "plan.png", runs=runs[runs["ce_UC"].notna()], compute=budget)
    return lines, path


@dataclass
class Report:
    claims: list[Claim]
    laws: Laws
    findings: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    n_runs: int = 0
    n_without_scores: int = 0
    left_out: list[dict] = field(default_factory=list)  # runs not (fully) used, with the reason
    gallery: list[GalleryItem] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)  # the planner's answer for 10x the largest compute

    def to_dict(self) -> dict:
        return {
            "n_runs": self.n_runs,
            "n_without_scores": self.n_without_scores,
            "left_out_runs": self.left_out,
            "claims": [c.to_dict() for c in self.claims],
            "laws": self.laws.to_dict(),
            "findings": self.findings,
            "gallery_images": [g.image_id for g in self.gallery],
            "plan": self.plan,
            "files": {k: str(v) for k, v in self.files.items()},
        }


def _blocks(rep: Report, root: Path, out: Path, table: tuple[list[str], list[list[str]]],
            seeds: tuple[list[str], list[list[str]]] | None = None) -> list[Block]:
    b: list[Block] = [("h1", "florenz scaling report"),
                      ("p", f"Runs directory `{root}`; generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
                            f"{rep.n_runs} runs, {rep.n_without_scores} without scores.json (skipped in fits).")]
    b += [("h2", "Verdicts"), ("verdicts", rep.claims)]
    if rep.left_out:
        b += [("h2", "Runs not (fully) used"),
              ("table", (["run", "reason", "effect"], [[x["run"], x["reason"], x["effect"]] for x in rep.left_out]))]
    b += [("h2", "Runs"),
          ("p", "acc = attribute accuracy, fid = language fidelity (both %), +pfx / -pfx = generated with / without "
                "the decoder's language prefix; `shuffled` columns are the image-shuffled controls."),
          ("table", table)]
    if seeds is not None:
        b += [("h2", "Seed spread per grid point"),
              ("p", "Mean [min, max] over seeds; acc / shuffled is the grounding ratio (attribute accuracy over its "
                    "image-shuffled control; 1 = the captions ignore the image)."),
              ("table", seeds)]
    if rep.gallery:
        b += [("h2", "Gallery: what the models wrote"),
              ("p", "Held-out images; per language the first reference and each model size's output (its run with "
                    "the most samples) with and without the prefix. Unseen languages (translation-only in training) "
                    "are marked UC."),
              ("gallery", rep.gallery)]
    b.append(("h2", "Figures"))
    for key, cap in CAPTIONS.items():
        if key == "plan":
            continue
        if key in rep.files:
            b.append(("img", (cap, rep.files[key].relative_to(out).as_posix())))
        else:
            b.append(("p", f"{cap}: not drawn (no data for it in these runs)."))
    if rep.plan:
        b += [("h2", "How big, how much data"), ("ul", rep.plan)]
        if "plan" in rep.files:
            b.append(("img", (CAPTIONS["plan"], rep.files["plan"].relative_to(out).as_posix())))
    b += [("h2", "Fitted laws"),
          ("p", "Compute law: log10 CE = a0 + a1 log10 C on Pareto-frontier points. Multivariate law: log10 CE = "
                "b0 + b1 log10 P + b2 log10 S (+ b3 log10 T). Chinchilla: CE = E + A/P^alpha + B/S^beta (Huber on "
                "log CE, bootstrap CIs). A law that is not identifiable (a term at its bound, infinite or collapsed "
                "intervals) says so instead of showing numbers. Leave-largest-out: refit without the largest "
                "compute/model and predict it."),
          ("table", (LAW_HEADER, [r for law in rep.laws.laws for r in law_rows(law)]))]
    b += [("h2", "Headline findings"), ("ul", rep.findings)]
    return b


def _md(blocks: list[Block], out: Path) -> str:
    parts = []
    cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731

    def table(head, rows):
        lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows])

    for kind, x in blocks:
        if kind in ("h1", "h2"):
            parts.append(("# " if kind == "h1" else "## ") + str(x))
        elif kind == "p":
            parts.append(str(x))
        elif kind == "ul":
            parts.append("\n".join(f"- {item}" for item in x))
        elif kind == "table":
            parts.append(table(*x))
        elif kind == "verdicts":
            n_ok = sum(c.verdict == "supported" for c in x)
            parts.append(f"**{n_ok} of {len(x)} claims supported.**\n\n" +
                         "\n".join(f"- **{c.verdict}**: {c.statement}" for c in x))
        elif kind == "img":
            cap, src = x
            parts.append(f"![{cap}]({src})\n\n*{cap}*")
        elif kind == "gallery":
            for g in x:
                img = out / "gallery" / f"{g.image_id}.png"
                if g.image_png is not None:
                    atomic_write_bytes(img, g.image_png)
                pic = f"\n\n![{g.image_id}](gallery/{img.name})" if img.is_file() else ""
                parts.append(f"**{g.image_id}**{pic}")
                models = list(g.outputs)
                head = ["lang", "reference"] + [f"{m} {t}" for m in models for t in ("+pfx", "-pfx")]
                rows = [[lang + (" (UC)" if lang in g.unseen else ""), g.refs.get(lang, "")] +
                        [g.outputs[m].get(lang, {}).get(mode, "") for m in models for mode in ("prefix", "no_prefix")]
                        for lang in g.langs]
                parts.append(table(head, rows))
    return "\n\n".join(parts) + "\n"


def build_report(runs_dir: str | Path, out: str | Path | None = None, chinchilla: bool = True,
                 n_bootstrap: int = 200) -> Report:
    """Load runs, fit laws, check claims, draw figures, write report.md/.html/.json under `out`."""
    root = Path(runs_dir)
    out = Path(out) if out is not None else root
    table = load_runs(root)
    runs = table.runs
    laws = fit_runs(runs, chinchilla=chinchilla, n_bootstrap=n_bootstrap)
    claims = check_claims(runs, laws)
    rep = Report(claims, laws, headline_findings(claims, laws), n_runs=len(runs),
                 n_without_scores=table.n_without_scores, left_out=table.left_out, gallery=gallery(root, runs))
    figs = out / "figures"
    drawn = {
        "fig3_compute": plots.plot_compute(runs, laws, figs / "fig3_compute.png"),
        "fig4_params": plots.plot_params(runs, laws, figs / "fig4_params.png"),
        "fig5_prefix": plots.plot_prefix(runs, figs / "fig5_prefix.png"),
        "quality_vs_compute": plots.plot_quality_vs_compute(runs, figs / "quality_vs_compute.png"),
        "training_curves": plots.plot_training_curves(training_curves(root, runs), runs,
                                                      figs / "training_curves.png"),
    }
    rep.plan, drawn["plan"] = _plan_section(runs, laws, figs)
    rep.files.update({k: v for k, v in drawn.items() if v is not None})
    blocks = _blocks(rep, root, out, run_table(runs), seed_table(runs))
    atomic_write_bytes(out / "report.md", _md(blocks, out).encode())
    atomic_write_bytes(out / "report.html", render_html(blocks, out).encode())
    rep.files["report.md"], rep.files["report.html"] = out / "report.md", out / "report.html"
    write_json(out / "report.json", rep.to_dict())
    rep.files["report.json"] = out / "report.json"
    return rep
