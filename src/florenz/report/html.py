"""report.html as one self-contained page: figures and gallery images inlined as data URIs, the CJK font
embedded as a subset of the characters on the page (first in font-family: as a late fallback, headless Chromium
drew some Chinese runs as boxes), verdicts at the top as coloured badges."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from florenz.fonts import font_face_css

E = html.escape
STYLE = """
body{font-family:'florenz-cjk','DejaVu Sans',Arial,sans-serif;max-width:1200px;margin:24px auto;padding:0 16px;
color:#222;line-height:1.4}
h1{font-size:26px;margin-bottom:4px}h2{font-size:19px;margin-top:30px;border-bottom:1px solid #ddd;padding-bottom:3px}
table{border-collapse:collapse;font-size:12px;margin:8px 0;display:block;overflow-x:auto;max-width:100%}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}th{background:#f4f4f4}
tbody tr:nth-child(even){background:#fafafa}
figure{margin:12px 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:12px;color:#555}
.summary{font-size:15px;margin:6px 0 10px}
.verdicts{list-style:none;padding:0}.verdicts li{margin:5px 0}
.badge{display:inline-block;min-width:98px;text-align:center;border-radius:4px;padding:1px 6px;margin-right:8px;
font-size:12px;font-weight:bold;color:#fff}
.ok{background:#2e7d32}.no{background:#c62828}.na{background:#757575}
.ev{display:block;margin-left:112px;font-size:12px;color:#555}
.item{display:flex;gap:14px;align-items:flex-start;margin:14px 0;padding-bottom:10px;border-bottom:1px solid #eee}
.item img{width:192px;image-rendering:pixelated;border:1px solid #ccc}
.item table{font-size:12px}.uc{color:#6a1b9a;font-weight:bold}
"""


def _badge(verdict: str) -> str:
    cls = "ok" if verdict == "supported" else "no" if verdict == "not supported" else "na"
    short = verdict if len(verdict) <= 14 else verdict.split(" (")[0]
    return f'<span class="badge {cls}" title="{E(verdict)}">{E(short)}</span>'


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _table(head, rows) -> str:
    th = "".join(f"<th>{E(str(h))}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{E(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _gallery(items) -> str:
    parts = []
    for g in items:
        img = (f'<img alt="{E(g.image_id)}" src="data:image/png;base64,{base64.b64encode(g.image_png).decode()}">'
               if g.image_png else "<div>(image not available)</div>")
        models = list(g.outputs)
        th = "<th>lang</th><th>reference</th>" + "".join(
            f"<th>{E(m)}<br>with prefix</th><th>{E(m)}<br>without prefix</th>" for m in models)
        trs = []
        for lang in g.langs:
            tag = f'{E(lang)} <span class="uc">UC</span>' if lang in g.unseen else E(lang)
            cells = "".join(f"<td>{E(g.outputs[m].get(lang, {}).get(mode, ''))}</td>"
                            for m in models for mode in ("prefix", "no_prefix"))
            trs.append(f"<tr><td>{tag}</td><td>{E(g.refs.get(lang, ''))}</td>{cells}</tr>")
        parts.append(f'<div class="item"><div>{img}<div><small>{E(g.image_id)}</small></div></div>'
                     f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(trs)}</tbody></table></div>")
    return "".join(parts)


def render_html(blocks: list[tuple[str, object]], out: Path) -> str:
    body = []
    for kind, x in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{E(str(x))}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{E(str(x))}</p>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{E(str(i))}</li>" for i in x) + "</ul>")
        elif kind == "table":
            body.append(_table(*x))
        elif kind == "verdicts":
            n_ok = sum(c.verdict == "supported" for c in x)
            items = "".join(f"<li>{_badge(c.verdict)}{E(c.statement)}<span class='ev'>{E(c.evidence)}</span></li>"
                            for c in x)
            body.append(f"<div class='summary'><b>{n_ok} of {len(x)}</b> of the paper's claims supported by these "
                        f"runs.</div><ul class='verdicts'>{items}</ul>")
        elif kind == "img":
            cap, src = x
            path = out / src
            uri = _data_uri(path) if path.is_file() else E(src)
            body.append(f'<figure><img src="{uri}" alt="{E(cap)}"><figcaption>{E(cap)}</figcaption></figure>')
        elif kind == "gallery":
            body.append(_gallery(x))
    text = "\n".join(body)
    font = font_face_css(html.unescape(re.sub(r"data:[^\"']+", "", text)))  # the page's characters, not base64
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>florenz report</title>"
            f"<style>{font}{STYLE}</style></head><body>\n{text}\n</body></html>\n")
