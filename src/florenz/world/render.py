"""Layout and rendering: a scene's content -> object positions -> an RGB image (numpy + Pillow).

Objects are drawn at 2x and downsampled (anti-aliasing), with jitter in position, radius (+-10 %),
rotation (+-15 deg), colour and a textured background, plus Gaussian pixel noise, so a vision tower
has to look at shape outlines rather than memorise pixels. All randomness comes from the given rng.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

RGB = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 90, 230), "yellow": (235, 220, 50),
       "purple": (150, 60, 200), "orange": (245, 140, 30), "white": (240, 240, 240)}
TEXTURES = ("plain", "stripes", "checker", "gradient")
_SS = 2  # supersampling factor


def layout(content: dict, rng: np.random.Generator, size: int, small: float, large: float) -> dict | None:
    """Place the objects so that the stated relation/position holds unambiguously (None: retry)."""
    objs = [dict(o) for o in content["objects"]]
    for o in objs:
        base = small if o["size"] == "small" else large
        o["r"] = round(float(base * size * rng.uniform(0.9, 1.1)), 2)
        o["angle"] = round(float(rng.uniform(-15, 15)), 1)
    pos = content.get("position")
    if pos:
        o = objs[0]
        cx, cy = {"left": (0.22, 0.5), "right": (0.78, 0.5), "top": (0.5, 0.22), "bottom": (0.5, 0.78),
                  "center": (0.5, 0.5)}[pos]
        o["x"] = float(np.clip(cx * size + rng.uniform(-0.06, 0.06) * size, o["r"], size - o["r"]))
        o["y"] = float(np.clip(cy * size + rng.uniform(-0.06, 0.06) * size, o["r"], size - o["r"]))
    elif not _place_related(objs, content["relation"], rng, size):
        return None
    for o in objs:
        o["x"], o["y"] = round(o["x"], 2), round(o["y"], 2)
    bg = {"texture": TEXTURES[int(rng.integers(len(TEXTURES)))],
          "rgb": [int(v) for v in rng.integers(20, 110, size=3)], "period": int(rng.integers(4, 12))}
    return {**content, "objects": objs, "background": bg}


def _place_related(objs: list[dict], rel: dict, rng: np.random.Generator, size: int) -> bool:
    """Place the related pair so the relation is clear (main-axis gap >= size/4, off-axis drift at
    most half of it), then the other objects anywhere free; False if they do not fit."""
    a, b = objs[rel["a"]], objs[rel["b"]]
    horizontal = rel["rel"] in ("left", "right")
    lo = max(0.25 * size, a["r"] + b["r"] + 2)
    hi = size - a["r"] - b["r"]
    if lo > hi:
        return False
    gap = rng.uniform(lo, hi)
    drift = rng.uniform(-0.5, 0.5) * gap
    sign = -1 if rel["rel"] in ("left", "above") else 1  # a - b along the main axis; image y grows down
    lo_a = max(a["r"], b["r"] + gap) if sign > 0 else a["r"]
    hi_a = size - a["r"] if sign > 0 else min(size - a["r"], size - b["r"] - gap)
    if lo_a > hi_a:
        return False
    main_a = rng.uniform(lo_a, hi_a)
    main_b = main_a - sign * gap
    cross_a = rng.uniform(a["r"], size - a["r"])
    cross_b = cross_a - drift
    if not (b["r"] <= cross_b <= size - b["r"]):
        cross_b = cross_a + drift
        if not (b["r"] <= cross_b <= size - b["r"]):
            return False
    (a["x"], a["y"]), (b["x"], b["y"]) = ((main_a, cross_a), (main_b, cross_b)) if horizontal else \
        ((cross_a, main_a), (cross_b, main_b))
    placed = [a, b]
    for o in objs:
        if o is a or o is b:
            continue
        for _ in range(30):
            o["x"], o["y"] = float(rng.uniform(o["r"], size - o["r"])), float(rng.uniform(o["r"], size - o["r"]))
            if all(math.hypot(o["x"] - p["x"], o["y"] - p["y"]) >= o["r"] + p["r"] + 2 for p in placed):
                break
        else:
            return False
        placed.append(o)
    return True


def render(scene: dict, size: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """An H x W x 3 uint8 image of a laid-out scene."""
    big = size * _SS
    img = Image.fromarray(_background(scene["background"], big))
    draw = ImageDraw.Draw(img)
    for o in scene["objects"]:
        jitter = rng.integers(-18, 19, size=3).tolist()
        rgb = tuple(min(255, max(0, c + j)) for c, j in zip(RGB[o["color"]], jitter, strict=True))
        pts = _outline(o["shape"], o["x"] * _SS, o["y"] * _SS, o["r"] * _SS, o["angle"])
        if pts is None:
            r = o["r"] * _SS
            draw.ellipse([o["x"] * _SS - r, o["y"] * _SS - r, o["x"] * _SS + r, o["y"] * _SS + r], fill=rgb)
        else:
            draw.polygon(pts, fill=rgb)
    arr = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
    if noise > 0:
        arr = arr + rng.normal(0, noise * 255, arr.shape).astype(np.float32)
    return np.clip(arr, 0, 255).astype(np.uint8)


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


def _background(bg: dict, big: int) -> np.ndarray:
    shade = _shade(bg["texture"], bg["period"], big)  # <= 40, base <= 110: no overflow in uint8
    return shade + np.array(bg["rgb"], dtype=np.uint8)


@lru_cache(maxsize=256)
def _shade(texture: str, period: int, big: int) -> np.ndarray:
    """The texture's brightness pattern (cached: only a few dozen exist)."""
    yy, xx = np.mgrid[0:big, 0:big]
    p = period * _SS
    if texture == "stripes":
        shade = ((xx + yy) // p % 2) * 25.0
    elif texture == "checker":
        shade = ((xx // p + yy // p) % 2) * 25.0
    elif texture == "gradient":
        shade = yy / big * 40.0
    else:
        shade = np.zeros((big, big))
    return np.repeat(shade[..., None], 3, axis=2).astype(np.uint8)


def _outline(shape: str, x: float, y: float, r: float, angle: float) -> list[tuple[float, float]] | None:
    """Polygon corners (unit shapes scaled by r, rotated by angle); None for the circle."""
    if shape == "circle":
        return None
    if shape == "square":
        unit = [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]
    elif shape == "diamond":
        unit = [(0, -1), (0.7, 0), (0, 1), (-0.7, 0)]
        angle = angle / 3  # a strongly rotated diamond would look like a square
    elif shape == "triangle":
        unit = [(math.cos(t), math.sin(t)) for t in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    elif shape == "star":
        unit = [((1 if k % 2 == 0 else 0.42) * math.cos(-math.pi / 2 + k * math.pi / 5),
                 (1 if k % 2 == 0 else 0.42) * math.sin(-math.pi / 2 + k * math.pi / 5)) for k in range(10)]
    elif shape == "cross":
        w = 0.33
        unit = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w),
                (-1, -w), (-w, -w)]
    else:
        raise ValueError(f"unknown shape {shape!r}")
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return [(x + r * (u * c - v * s), y + r * (u * s + v * c)) for u, v in unit]
