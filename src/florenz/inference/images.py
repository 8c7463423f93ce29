"""Turning what a user passes (paths, folders, PIL images, tensors) into RGB images.

Unreadable or non-image files are skipped with a warning naming each and counted; an empty folder
or a path that does not exist is an error, so a typo never produces an empty result silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from florenz.errors import FlorenzError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}

ImageLike = Image.Image | str | Path | torch.Tensor | np.ndarray


@dataclass
class Collected:
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)


def collect_image_files(paths: Iterable[str | Path]) -> Collected:
    """Files given directly are taken as they are (checked when opened); folders are searched
    recursively for common image suffixes, other files there are skipped and counted."""
    out = Collected()
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file())
            images = [f for f in found if f.suffix.lower() in IMAGE_SUFFIXES]
            out.skipped += [(f, "not an image file") for f in found if f.suffix.lower() not in IMAGE_SUFFIXES]
            if not images:
                raise FlorenzError(f"no image files in folder {p} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
            out.files += images
        elif p.is_file():
            out.files.append(p)
        else:
            raise FlorenzError(f"no such file or folder: {p}")
    return out


def open_image(image: ImageLike) -> Image.Image:
    """An RGB PIL image from a path, PIL image, or a CHW/HWC tensor/array (float in [0, 1] or uint8)."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, str | Path):
        try:
            with Image.open(image) as im:
                return im.convert("RGB")
        except (UnidentifiedImageError, OSError) as e:
            raise FlorenzError(f"unreadable image {image}: {e.__class__.__name__}") from None
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
            arr = arr.transpose(1, 2, 0)
        if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
            raise FlorenzError(f"image array must be CHW or HWC with 1 or 3 channels, got shape {image.shape}")
        if arr.dtype != np.uint8:
            arr = (np.clip(arr.astype(np.float32), 0.0, 1.0) * 255).round().astype(np.uint8)
        return Image.fromarray(arr.repeat(3, axis=-1) if arr.shape[-1] == 1 else arr)
    raise FlorenzError(f"cannot use {type(image).__name__} as an image (use a path, PIL image or tensor)")

