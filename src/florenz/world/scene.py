"""Scenes: what an image contains, as plain dicts (JSON-ready), plus canonical identity.

A scene is ``{"objects": [{"shape", "color", "size", ...layout}], "relation": {"rel", "a", "b"} | None,
"position": str | None}``. Multi-object scenes state one spatial relation (object ``a`` is ``rel`` of
object ``b``); one-object scenes state the object's position instead. Layout keys (x, y, r, angle)
and the background are rendering detail: two images with the same canonical key are the same scene
for the purposes of held-out disjointness. Partial scenes (translation sources) may omit size/colour.
"""

from __future__ import annotations

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "cross", "diamond")
COLORS = ("red", "green", "blue", "yellow", "purple", "orange", "white")
SIZES = ("small", "large")
RELATIONS = ("left", "right", "above", "below")
POSITIONS = ("left", "right", "top", "bottom", "center")
ATTRS = ("shape", "color", "size")
_FLIP = {"right": "left", "below": "above"}


def sample_content(rng: np.random.Generator, min_objects: int, max_objects: int) -> dict:
    """What the scene says (no layout): distinct (shape, colour) objects, a relation or a position."""
    n = int(rng.integers(min_objects, max_objects + 1))
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        p = (SHAPES[rng.integers(len(SHAPES))], COLORS[rng.integers(len(COLORS))])
        if p not in pairs:
            pairs.append(p)
    objects = [{"shape": s, "color": c, "size": SIZES[rng.integers(2)]} for s, c in pairs]
    if n == 1:
        return {"objects": objects, "relation": None, "position": POSITIONS[rng.integers(len(POSITIONS))]}
    return {"objects": objects, "relation": {"rel": RELATIONS[rng.integers(4)], "a": 0, "b": 1}, "position": None}


def object_key(obj: dict) -> tuple[str, str, str]:
    return (obj.get("shape") or "", obj.get("color") or "", obj.get("size") or "")


def relation_key(scene: dict) -> tuple | None:
    """The relation as (subject, rel, reference) with right/below flipped to left/above."""
    rel = scene.get("relation")
    objs = scene.get("objects", [])
    if not rel or not (0 <= rel["a"] < len(objs) and 0 <= rel["b"] < len(objs)) or rel["a"] == rel["b"]:
        return None
    a, b, r = object_key(objs[rel["a"]]), object_key(objs[rel["b"]]), rel["rel"]
    return (b, _FLIP[r], a) if r in _FLIP else (a, r, b)


def scene_key(scene: dict) -> tuple:
    """Canonical identity: order-free objects, normalised relation, position (layout ignored)."""
    return (tuple(sorted(object_key(o) for o in scene.get("objects", []))), relation_key(scene),
            scene.get("position"))


def content_only(scene: dict) -> dict:
    """Drop layout/background keys: the part of a scene that text can state."""
    objs = [{k: o[k] for k in ATTRS if o.get(k)} for o in scene.get("objects", [])]
    return {"objects": objs, "relation": scene.get("relation"), "position": scene.get("position")}


def partial_scene(scene: dict, rng: np.random.Generator, keep_attr: float, loose: float) -> dict:
    """A loose, incomplete description of `scene`, as similarity-matched translation data would give.

    Always omits something. Keeps a random non-empty subset of objects (shape always, size/colour
    each with `keep_attr`), the relation only if both its objects survive (and a coin says so), the
    position with p=0.5, and with probability `loose` changes one stated attribute so the sentence
    no longer fits the image.
    """
    objs = scene["objects"]
    n = len(objs)
    keep = sorted(rng.permutation(n)[: int(rng.integers(1, n + 1))].tolist())
    new = []
    for i in keep:
        o = {"shape": objs[i]["shape"]}
        for attr in ("color", "size"):
            if rng.random() < keep_attr:
                o[attr] = objs[i][attr]
        new.append(o)
    rel = scene.get("relation")
    relation = None
    if rel and rel["a"] in keep and rel["b"] in keep and rng.random() < 0.7:
        relation = {"rel": rel["rel"], "a": keep.index(rel["a"]), "b": keep.index(rel["b"])}
    position = scene.get("position") if scene.get("position") and rng.random() < 0.5 else None
    out = {"objects": new, "relation": relation, "position": position}
    if scene_key(out) == scene_key(content_only(scene)):  # never the complete description
        o = new[int(rng.integers(len(new)))]
        del o[("color", "size")[int(rng.integers(2))]]
    if rng.random() < loose:
        _perturb(out, rng)
    return out


def _perturb(scene: dict, rng: np.random.Generator) -> None:
    """Change one attribute to another value, keeping (shape, colour) pairs distinct."""
    o = scene["objects"][int(rng.integers(len(scene["objects"])))]
    attr = ("shape", "color", "size")[int(rng.integers(3))]
    values = {"shape": SHAPES, "color": COLORS, "size": SIZES}[attr]
    if attr not in o:
        return
    choice = values[int(rng.integers(len(values)))]
    trial = {**o, attr: choice}
    if all((p.get("shape"), p.get("color")) != (trial.get("shape"), trial.get("color"))
           for p in scene["objects"] if p is not o):
        o[attr] = choice
