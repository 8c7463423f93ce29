"""The one font setup every PNG and the HTML report use, so Chinese renders as text, not boxes.

The CJK font is Noto Sans SC (SIL OFL 1.1), installed with florenz's own dependencies through the PyPI
package `pylopdf-fonts-zh-cn`; it also covers Latin and Cyrillic. Matplotlib gets it as a per-glyph
fallback after DejaVu Sans; the HTML report embeds a subset holding only the characters on the page.
"""

from __future__ import annotations

import base64
import io
from functools import cache
from pathlib import Path

from florenz.errors import FlorenzError

CJK_FAMILY = "Noto Sans SC"


def cjk_font_path() -> Path:
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        raise FlorenzError("the CJK font package is missing: pip install 'pylopdf-fonts-zh-cn>=0.1.1'") from None
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    if not path.is_file():
        raise FlorenzError(f"CJK font file not found: {path}")
    return path


@cache
def use_cjk_font() -> str:
    """Register the CJK font with matplotlib and make it the fallback of the default family; idempotent."""
    import matplotlib
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(cjk_font_path()))
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", CJK_FAMILY]
    return CJK_FAMILY


def font_face_css(text: str, family: str = "florenz-cjk") -> str:
    """A CSS @font-face whose font is the CJK font subset to the characters of `text`, inline (base64)."""
    from fontTools import subset

    opts = subset.Options()
    opts.flavor = None
    opts.layout_features = ["*"]
    font = subset.load_font(str(cjk_font_path()), opts)
    sub = subset.Subsetter(opts)
    sub.populate(unicodes={ord(c) for c in set(text) if not c.isspace()} | {0x20})
    sub.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    data = base64.b64encode(buf.getvalue()).decode()
    return f"@font-face{{font-family:'{family}';src:url(data:font/otf;base64,{data}) format('opentype');}}"
