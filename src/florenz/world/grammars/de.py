"""German: accusative after "Das Bild zeigt" (einen kleinen roten Kreis), dative after prepositions
(links von einem großen blauen Quadrat), mixed adjective declension by gender."""

from __future__ import annotations

from florenz.world.grammar import Entry, Grammar, join_list, register_grammar, table_entries

SHAPES = {"circle": ("Kreis", "m"), "square": ("Quadrat", "n"), "triangle": ("Dreieck", "n"),
          "star": ("Stern", "m"), "cross": ("Kreuz", "n"), "diamond": ("Raute", "f")}
COLORS = {"red": "rot", "green": "grün", "blue": "blau", "yellow": "gelb", "purple": "violett",
          "orange": "orangefarben", "white": "weiß"}
SIZES = {"small": "klein", "large": "groß"}
# (case, gender) -> (article, adjective ending) for the indefinite article (mixed declension)
DECL = {("acc", "m"): ("einen", "en"), ("acc", "f"): ("eine", "e"), ("acc", "n"): ("ein", "es"),
        ("dat", "m"): ("einem", "en"), ("dat", "f"): ("einer", "en"), ("dat", "n"): ("einem", "en")}
REL_MID = {"left": ["links von", "links neben"], "right": ["rechts von", "rechts neben"],
           "above": ["über", "oberhalb von"], "below": ["unter", "unterhalb von"]}
REL_POST1 = {"left": "links daneben", "right": "rechts daneben", "above": "darüber", "below": "darunter"}
POS = {"left": ["auf der linken Seite", "links"], "right": ["auf der rechten Seite", "rechts"],
       "top": ["oben", "im oberen Bereich"], "bottom": ["unten", "im unteren Bereich"],
       "center": ["in der Mitte", "im Zentrum"]}
FN = ["und", "mit", "sowie", "das", "bild", "zeigt"]


class German(Grammar):
    code = "de"

    def np(self, o: dict, case: str) -> str:
        noun, gender = SHAPES[o["shape"]]
        art, ending = DECL[(case, gender)]
        adjs = [SIZES[o["size"]] + ending] if o.get("size") else []
        adjs += [COLORS[o["color"]] + ending] if o.get("color") else []
        return " ".join([art, *adjs, noun])

    def describe(self, scene: dict, variant: int = 0) -> str:
        objs, rel, pos = self.split(scene)
        acc = [self.np(o, "acc") for o in objs]
        v = variant % self.n_variants
        if rel is None:
            text = join_list(acc, ' und ')
            if not pos:
                return text
            return f"{text} {POS[pos][0]}" if v != 1 else f"{text} {POS[pos][1]}"
        a, b = rel["a"], rel["b"]
        rest = [acc[i] for i in self.others(scene)]
        if v == 0:
            core = f"{acc[a]} {REL_MID[rel['rel']][0]} {self.np(objs[b], 'dat')}"
        elif v == 1:
            core = f"{acc[b]} mit {self.np(objs[a], 'dat')} {REL_POST1[rel['rel']]}"
            return f"{core}, sowie {join_list(rest, ' und ')}" if rest else core
        else:
            core = f"{acc[a]} {REL_MID[rel['rel']][1]} {self.np(objs[b], 'dat')}"
            if rest:
                return f"{join_list(rest, ' und ')} und {core}"
        return f"{core} und {join_list(rest, ' und ')}" if rest else core

    def entries(self) -> list[tuple[str, Entry]]:
        out = [(w, Entry("shape", k)) for k, (w, _) in SHAPES.items()]
        for table, cat in ((COLORS, "color"), (SIZES, "size")):
            out += [(w + e, Entry(cat, k)) for k, w in table.items() for e in ("", "e", "en", "es", "em", "er")]
        out += table_entries("rel", REL_MID, "mid")
        out += table_entries("rel", REL_POST1, "post1")
        out += table_entries("pos", POS)
        out += table_entries("det", ["ein", "eine", "einen", "einem", "einer", "eines"])
        return out + table_entries("fn", FN)



register_grammar(German())
