"""Chinese renders as glyphs in the PNGs and the HTML report (no missing-glyph boxes)."""

from __future__ import annotations

import base64
import io
import re
import warnings

from florenz.fonts import font_face_css, use_cjk_font

ZH = "一个红色的三角形在蓝色圆圈的左边"


def test_matplotlib_draws_chinese_without_missing_glyphs(tmp_path):
    use_cjk_font()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 1))
    ax.text(0, 0.5, f"zh: {ZH} / ru: красный / fr: à côté")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(tmp_path / "zh.png")
    plt.close(fig)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing


def test_html_font_subset_holds_the_page_characters():
    from fontTools.ttLib import TTFont

    css = font_face_css(ZH + " abc")
    data = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)\)", css).group(1))
    cmap = TTFont(io.BytesIO(data)).getBestCmap()
    assert all(ord(c) in cmap for c in ZH)
    assert len(data) < 200_000  # a subset, not the 8 MB font
