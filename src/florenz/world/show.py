"""A PNG contact sheet of a data set: images beside their captions and translations."""

from __future__ import annotations

import itertools
import logging
import textwrap
import warnings
from pathlib import Path

from florenz.data.shards import decode_image, read_records
from florenz.fonts import use_cjk_font


def show_grid(data_dir: str | Path, out: str | Path, split: str = "heldout", n: int = 6) -> Path:
    """One row per image: the image, then every sample as `task/lang: [src ->] tgt`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = list(itertools.islice(read_records(data_dir, split), n))
    lines = [[f"{s.task}/{s.lang}: " + (f"{s.src} -> " if s.src else "") + s.tgt for s in r.samples]
             for r in records]
    height = [max(2.0, 0.22 * sum(len(textwrap.wrap(t, 110)) for t in ls)) for ls in lines]
    fig, axes = plt.subplots(len(records), 2, figsize=(16, sum(height)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 7], "height_ratios": height})
    use_cjk_font()  # Chinese captions as text, not boxes
    for (ax_img, ax_txt), rec, ls in zip(axes, records, lines, strict=True):
        ax_img.imshow(decode_image(rec), interpolation="nearest")
        ax_img.set_title(rec.key, fontsize=8)
        ax_txt.text(0, 1, "\n".join(w for t in ls for w in textwrap.wrap(t, 110)), va="top", fontsize=7)
        for ax in (ax_img, ax_txt):
            ax.axis("off")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    level = logging.getLogger("matplotlib.font_manager").level
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.tight_layout()
        fig.savefig(out, dpi=80)
    logging.getLogger("matplotlib.font_manager").setLevel(level)
    plt.close(fig)
    return out
