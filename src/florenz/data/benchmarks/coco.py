"""COCO Karpathy split: dataset_coco.json (also dataset_flickr30k.json), images under
<image_root>/<filepath>/<filename>; 'test' holds 5000 images with five references each."""

from __future__ import annotations

from pathlib import Path

from florenz.data.benchmarks.common import BenchmarkItem, attach_images
from florenz.errors import FlorenzError
from florenz.io import read_json

SPLITS = ("train", "restval", "val", "test")


def load_karpathy(path: str | Path, split: str = "test", image_root: str | Path | None = None,
                  text_only: bool = False) -> list[BenchmarkItem]:
    path = Path(path)
    if path.is_dir():
        path = path / "dataset_coco.json"
    if split not in SPLITS:
        raise FlorenzError(f"unknown Karpathy split {split!r}; known: {', '.join(SPLITS)}")
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise FlorenzError(f"{path}: expected an object with an 'images' list (Karpathy format)")
    items, names = [], []
    for img in data["images"]:
        if img.get("split") != split:
            continue
        refs = [s["raw"] for s in img.get("sentences", [])]
        if not refs:
            raise FlorenzError(f"{path}: image {img.get('filename')} has no sentences")
        iid = str(img.get("cocoid", img.get("imgid")))
        items.append(BenchmarkItem(id=iid, task="caption", lang="en", refs=refs,
                                   extra={"filename": img["filename"]}))
        names.append(str(Path(img.get("filepath", "")) / img["filename"]))
    if not items:
        raise FlorenzError(f"{path}: no images in split {split!r}")
    root = Path(image_root) if image_root else path.parent
    return attach_images(items, root, names, text_only, f"Karpathy {path.name}")
