"""Layout and rendering: a scene's content -> object positions -> an RGB image (numpy + Pillow).

Objects are drawn at 2x and downsampled (anti-aliasing), with jitter in position, radius (+-10 %),
rotation (+-15 deg), colour and a textured background, plus Gaussian pixel noise, so a vision tower
has to look at shape outlines rather than memorise pixels. All randomness comes from the given rng.
"""

from __future__ import annotations

import io
import math

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
    else:
        for o in objs:
            o["x"] = float(rng.uniform(o["r"], size - o["r"]))
            o["y"] = float(rng.uniform(o["r"], size - o["r"]))
        for i in range(len(objs)):
            for j in range(i):
                a, b = objs[i], objs[j]
                if math.hypot(a["x"] - b["x"], a["y"] - b["y"]) < a["r"] + b["r"] + 2:
                    return None
        rel = content["relation"]
        a, b = objs[rel["a"]], objs[rel["b"]]
        dx, dy = a["x"] - b["x"], a["y"] - b["y"]  # image y grows downwards
        want = {"left": -dx, "right": dx, "above": -dy, "below": dy}[rel["rel"]]
        other = abs(dy) if rel["rel"] in ("left", "right") else abs(dx)
        if want < 0.25 * size or other > 0.5 * want:
            return None
    for o in objs:
        o["x"], o["y"] = round(o["x"], 2), round(o["y"], 2)
    bg = {"texture": TEXTURES[int(rng.integers(len(TEXTURES)))],
          "rgb": [int(v) for v in rng.integers(20, 110, size=3)], "period": int(rng.integers(4, 12))}
    return {**content, "objects": objs, "background": bg}


def render(scene: dict, size: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """An H x W x 3 uint8 image of a laid-out scene."""
    big = size * _SS
    img = Image.fromarray(_background(scene["background"], big))
    draw = ImageDraw.Draw(img)
    for o in scene["objects"]:
        rgb = tuple(int(np.clip(c + rng.integers(-18, 19), 0, 255)) for c in RGB[o["color"]])
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
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _background(bg: dict, big: int) -> np.ndarray:
    base = np.array(bg["rgb"], dtype=np.float32)
    yy, xx = np.mgrid[0:big, 0:big]
    p = bg["period"] * _SS
    if bg["texture"] == "stripes":
        shade = ((xx + yy) // p % 2) * 25.0
    elif bg["texture"] == "checker":
        shade = ((xx // p + yy // p) % 2) * 25.0
    elif bg["texture"] == "gradient":
        shade = yy / big * 40.0
    else:
        shade = np.zeros((big, big))
    return np.clip(base[None, None, :] + shade[..., None], 0, 255).astype(np.uint8)


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
