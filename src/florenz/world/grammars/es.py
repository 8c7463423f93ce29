"""Spanish: gender agreement (una estrella roja pequeña), adjectives after the noun or the size
before it (un pequeño círculo rojo), prepositional relations (a la izquierda de un cuadrado azul)."""

from __future__ import annotations

from florenz.world.grammar import Entry, Grammar, join_list, register_grammar, table_entries

SHAPES = {"circle": ("círculo", "m"), "square": ("cuadrado", "m"), "triangle": ("triángulo", "m"),
          "star": ("estrella", "f"), "cross": ("cruz", "f"), "diamond": ("rombo", "m")}
COLORS = {"red": ("rojo", "roja"), "green": ("verde", "verde"), "blue": ("azul", "azul"),
          "yellow": ("amarillo", "amarilla"), "purple": ("morado", "morada"), "orange": ("naranja", "naranja"),
          "white": ("blanco", "blanca")}
SIZES = {"small": ("pequeño", "pequeña"), "large": ("grande", "grande")}
REL_MID = {"left": ["a la izquierda de", "al lado izquierdo de"], "right": ["a la derecha de", "al lado derecho de"],
           "above": ["encima de", "sobre"], "below": ["debajo de", "bajo"]}
REL_POST1 = {"left": "a su izquierda", "right": "a su derecha", "above": "encima", "below": "debajo"}
POS = {"left": ["a la izquierda", "en la parte izquierda"], "right": ["a la derecha", "en la parte derecha"],
       "top": ["arriba", "en la parte superior"], "bottom": ["abajo", "en la parte inferior"],
       "center": ["en el centro", "en el medio"]}
FN = ["y", "con", "la", "imagen", "muestra"]


class Spanish(Grammar):
    code = "es"
    post_cats = frozenset({"color", "size"})

    def np(self, o: dict, size_first: bool) -> str:
        noun, g = SHAPES[o["shape"]]
        k = 0 if g == "m" else 1
        size = [SIZES[o["size"]][k]] if o.get("size") else []
        if size_first and size == ["grande"]:
            size = ["gran"]  # apocope before the noun: un gran círculo
        color = [COLORS[o["color"]][k]] if o.get("color") else []
        words = [*size, noun, *color] if size_first else [noun, *color, *size]
        return ("un " if g == "m" else "una ") + " ".join(words)

    def describe(self, scene: dict, variant: int = 0) -> str:
        objs, rel, pos = self.split(scene)
        v = variant % self.n_variants
        nps = [self.np(o, size_first=v == 2) for o in objs]
        if rel is None:
            text = join_list(nps, ' y ')
            return f"{text} {POS[pos][v % 2]}" if pos else text
        a, b = rel["a"], rel["b"]
        rest = [nps[i] for i in self.others(scene)]
        if v == 1:
            core = f"{nps[b]} con {nps[a]} {REL_POST1[rel['rel']]}"
        else:
            core = f"{nps[a]} {REL_MID[rel['rel']][v // 2]} {nps[b]}"
            if v == 2 and rest:
                return f"{join_list(rest, ' y ')}, y {core}"
        return f"{core}, y {join_list(rest, ' y ')}" if rest else core

    def entries(self) -> list[tuple[str, Entry]]:
        out = [(w, Entry("shape", k)) for k, (w, _) in SHAPES.items()]
        out += table_entries("color", COLORS)
        out += table_entries("size", SIZES) + [("gran", Entry("size", "large"))]
        out += table_entries("rel", REL_MID, "mid")
        out += table_entries("rel", REL_POST1, "post1")
        out += table_entries("pos", POS)
        out += table_entries("det", ["un", "una"])
        return out + table_entries("fn", FN)



register_grammar(Spanish())
