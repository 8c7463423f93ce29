"""report.md + report.html for a runs directory: plots, fitted laws, and the paper's claims checked.

The report is built once as a list of blocks (heading, paragraph, list, table, image) and rendered to
both Markdown and HTML, so the two files can never disagree.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from florenz.io import atomic_write_bytes, write_json
from florenz.report.claims import Claim, check_claims, headline_findings
from florenz.scaling import plots
from florenz.scaling.laws import LAW_HEADER, Laws, fit_runs, law_rows
from florenz.scaling.table import load_runs

Block = tuple[str, object]  # ("h2" | "p" | "ul" | "table" | "img", payload)


@dataclass
class Report:
    claims: list[Claim]
    laws: Laws
    findings: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    n_runs: int = 0
    n_without_scores: int = 0
    left_out: list[dict] = field(default_factory=list)  # runs not (fully) used, with the reason

    def to_dict(self) -> dict:
        return {
            "n_runs": self.n_runs,
            "n_without_scores": self.n_without_scores,
            "left_out_runs": self.left_out,
            "claims": [c.to_dict() for c in self.claims],
            "laws": self.laws.to_dict(),
            "findings": self.findings,
            "files": {k: str(v) for k, v in self.files.items()},
        }


def _blocks(rep: Report, root: Path, out: Path) -> list[Block]:
    b: list[Block] = [("h1", "florenz scaling report"),
                      ("p", f"Runs directory `{root}`; generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
                            f"{rep.n_runs} runs, {rep.n_without_scores} without scores.json (skipped in fits).")]
    b += [("h2", "Headline findings"), ("ul", rep.findings)]
    if rep.left_out:
        b += [("h2", "Runs not (fully) used"),
              ("table", (["run", "reason", "effect"], [[x["run"], x["reason"], x["effect"]] for x in rep.left_out]))]
    b += [("h2", "The paper's claims, checked"),
          ("table", (["claim", "verdict", "evidence"], [[c.statement, c.verdict, c.evidence] for c in rep.claims]))]
    b += [("h2", "Fitted laws"),
          ("p", "Compute law: log10 CE = a0 + a1 log10 C on Pareto-frontier points. Multivariate law: log10 CE = "
                "b0 + b1 log10 P + b2 log10 S (+ b3 log10 T). Chinchilla: CE = E + A/P^alpha + B/S^beta (Huber on "
                "log CE, bootstrap CIs). Leave-largest-out: refit without the largest compute/model and predict it."),
          ("table", (LAW_HEADER, [r for law in rep.laws.laws for r in law_rows(law)]))]
    captions = {
        "fig3_compute": "CE vs compute per group with Pareto frontier and compute law (cf. paper Fig. 3)",
        "fig4_params": "Predicted UC CE vs parameters with 95% CI and PI (cf. paper Fig. 4)",
        "fig5_prefix": "Unseen-language caption quality with vs without prefix per model (cf. paper Fig. 5)",
        "quality_vs_compute": "Attribute accuracy and language fidelity vs compute per T (micro world)",
    }
    b.append(("h2", "Figures"))
    for key, cap in captions.items():
        if key in rep.files:
            b.append(("img", (cap, rep.files[key].relative_to(out).as_posix())))
        else:
            b.append(("p", f"{cap}: not drawn (no data for it in these runs)."))
    return b


def _md(blocks: list[Block]) -> str:
    out = []
    for kind, x in blocks:
        if kind in ("h1", "h2"):
            out.append(("# " if kind == "h1" else "## ") + str(x))
        elif kind == "p":
            out.append(str(x))
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in x))
        elif kind == "table":
            head, rows = x
            cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731
            lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
            out.append("\n".join(lines))
        elif kind == "img":
            cap, src = x
            out.append(f"![{cap}]({src})\n\n*{cap}*")
    return "\n\n".join(out) + "\n"


def _html(blocks: list[Block]) -> str:
    e = html.escape
    body = []
    for kind, x in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{e(str(x))}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(str(x))}</p>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{e(str(i))}</li>" for i in x) + "</ul>")
        elif kind == "table":
            head, rows = x
            th = "".join(f"<th>{e(h)}</th>" for h in head)
            trs = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>" for r in rows)
            body.append(f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>")
        elif kind == "img":
            cap, src = x
            body.append(f'<figure><img src="{e(src)}" alt="{e(cap)}"><figcaption>{e(cap)}</figcaption></figure>')
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:100%}")
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>florenz report</title><style>{style}</style>"
            f"</head><body>\n" + "\n".join(body) + "\n</body></html>\n")


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
                 n_without_scores=table.n_without_scores, left_out=table.left_out)
    figs = out / "figures"
    drawn = {
        "fig3_compute": plots.plot_compute(runs, laws, figs / "fig3_compute.png"),
        "fig4_params": plots.plot_params(runs, laws, figs / "fig4_params.png"),
        "fig5_prefix": plots.plot_prefix(runs, figs / "fig5_prefix.png"),
        "quality_vs_compute": plots.plot_quality_vs_compute(runs, figs / "quality_vs_compute.png"),
    }
    rep.files.update({k: v for k, v in drawn.items() if v is not None})
    blocks = _blocks(rep, root, out)
    atomic_write_bytes(out / "report.md", _md(blocks).encode())
    atomic_write_bytes(out / "report.html", _html(blocks).encode())
    rep.files["report.md"], rep.files["report.html"] = out / "report.md", out / "report.html"
    write_json(out / "report.json", rep.to_dict())
    rep.files["report.json"] = out / "report.json"
    return rep
