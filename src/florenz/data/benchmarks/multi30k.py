"""Multi30K (github.com/multi30k/dataset layout): task 1 translation, task 2 independent captions.

task1/raw/{split}.{lang}[.gz] line i is the description of task1/image_splits/{split}.txt line i;
task2/raw/{split}.{1..5}.{lang}[.gz] are five captions of task2/image_splits/{split}_images.txt line i.
The paper's main Multi30K number is the mean over test_2016_flickr, test_2017_flickr, test_2017_mscoco.
"""

from __future__ import annotations

from pathlib import Path

from florenz.data.benchmarks.common import BenchmarkItem, attach_images, pick_dir, read_lines, same_length
from florenz.errors import FlorenzError

TASK1_SPLITS = ("train", "val", "test_2016_flickr", "test_2017_flickr", "test_2017_mscoco", "test_2018_flickr")
TASK2_SPLITS = ("train", "val", "test_2016")
PAPER_MAIN_SPLITS = ("test_2016_flickr", "test_2017_flickr", "test_2017_mscoco")
LANGS = ("en", "de", "fr", "cs")

# where the official image archives unpack (flickr30k-images/ holds train/val/test_2016)
_IMAGE_DIRS = {
    "test_2017_flickr": ["images/test_2017_flickr", "test_2017_flickr", "test2017-images", "flickr30k-images"],
    "test_2017_mscoco": ["images/test_2017_mscoco", "test_2017_mscoco", "images_mscoco", "mscoco-images"],
    "test_2018_flickr": ["images/test_2018_flickr", "test_2018_flickr", "test2018-images", "flickr30k-images"],
}


def _image_dir(root: Path, split: str, image_dir: str | Path | None) -> Path | None:
    if image_dir:
        return Path(image_dir)
    return pick_dir(root, _IMAGE_DIRS.get(split, []) + [f"images/{split}", "flickr30k-images", "images"])


def load_multi30k(root: str | Path, split: str = "test_2016_flickr", src: str = "en", tgt: str = "de",
                  image_dir: str | Path | None = None, text_only: bool = False) -> list[BenchmarkItem]:
    """Task 1 translation items `src -> tgt` (one reference each) with their Flickr/COCO image."""
    root = Path(root)
    if split not in TASK1_SPLITS:
        raise FlorenzError(f"unknown Multi30K task 1 split {split!r}; known: {', '.join(TASK1_SPLITS)}")
    for lang in (src, tgt):
        if lang not in LANGS:
            raise FlorenzError(f"Multi30K has no language {lang!r}; known: {', '.join(LANGS)}")
    raw = root / "task1" / "raw"
    srcs, tgts = read_lines(raw / f"{split}.{src}"), read_lines(raw / f"{split}.{tgt}")
    lines = read_lines(root / "task1" / "image_splits" / f"{split}.txt")
    same_length(f"Multi30K {split}", **{src: srcs, tgt: tgts, "images": lines})
    names = [n.split("#")[0] for n in lines]  # test_2017_mscoco lines are "COCO_...jpg#<annotation id>"
    items = [BenchmarkItem(id=f"{split}:{i}", task="translation", lang=tgt, refs=[t], src=s, src_lang=src,
                           extra={"image_name": n, "image_line": line})
             for i, (s, t, n, line) in enumerate(zip(srcs, tgts, names, lines, strict=True))]
    return attach_images(items, _image_dir(root, split, image_dir), names, text_only, f"Multi30K {split}")


def load_multi30k_captions(root: str | Path, split: str = "test_2016", lang: str = "en",
                           image_dir: str | Path | None = None, text_only: bool = False) -> list[BenchmarkItem]:
    """Task 2 caption items: five independent references per image."""
    root = Path(root)
    if split not in TASK2_SPLITS:
        raise FlorenzError(f"unknown Multi30K task 2 split {split!r}; known: {', '.join(TASK2_SPLITS)}")
    if lang not in ("en", "de"):
        raise FlorenzError(f"Multi30K task 2 has captions in en and de only, not {lang!r}")
    raw = root / "task2" / "raw"
    columns = {str(k): read_lines(raw / f"{split}.{k}.{lang}") for k in range(1, 6)}
    names = read_lines(root / "task2" / "image_splits" / f"{split}_images.txt")
    same_length(f"Multi30K task 2 {split}", images=names, **columns)
    items = [BenchmarkItem(id=f"{split}:{i}", task="caption", lang=lang, refs=[columns[str(k)][i] for k in range(1, 6)],
                           extra={"image_name": n}) for i, n in enumerate(names)]
    return attach_images(items, _image_dir(root, split, image_dir), names, text_only, f"Multi30K task 2 {split}")
