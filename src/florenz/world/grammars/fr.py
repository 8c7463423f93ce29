"""French: gender agreement (une petite étoile verte), size before and colour after the noun,
elision (à gauche d'un grand carré bleu)."""

from __future__ import annotations

from florenz.world.grammar import Entry, Grammar, join_list, register_grammar, table_entries

SHAPES = {"circle": ("cercle", "m"), "square": ("carré", "m"), "triangle": ("triangle", "m"),
          "star": ("étoile", "f"), "cross": ("croix", "f"), "diamond": ("losange", "m")}
COLORS = {"red": ("rouge", "rouge"), "green": ("vert", "verte"), "blue": ("bleu", "bleue"),
          "yellow": ("jaune", "jaune"), "purple": ("violet", "violette"), "orange": ("orange", "orange"),
          "white": ("blanc", "blanche")}
SIZES = {"small": ("petit", "petite"), "large": ("grand", "grande")}
REL_MID = {"left": ["à gauche de", "à la gauche de"], "right": ["à droite de", "à la droite de"],
           "above": ["au-dessus de", "plus haut que"], "below": ["au-dessous de", "plus bas que"]}
REL_POST1 = {"left": "à sa gauche", "right": "à sa droite", "above": "au-dessus", "below": "en dessous"}
POS = {"left": ["à gauche", "sur la gauche"], "right": ["à droite", "sur la droite"],
       "top": ["en haut", "dans la partie supérieure"], "bottom": ["en bas", "dans la partie inférieure"],
       "center": ["au centre", "au milieu"]}
FN = ["et", "avec", "la", "photo", "montre"]


class French(Grammar):
    code = "fr"
    post_cats = frozenset({"color"})

    def np(self, o: dict, prep: str = "") -> str:
        noun, g = SHAPES[o["shape"]]
        k = 0 if g == "m" else 1
        words = [SIZES[o["size"]][k]] if o.get("size") else []
        words.append(noun)
        words += [COLORS[o["color"]][k]] if o.get("color") else []
        art = "un" if g == "m" else "une"
        if prep:  # de un -> d'un, que une -> qu'une
            art = prep[:-1] + "'" + art
        return f"{art} {' '.join(words)}"

    def describe(self, scene: dict, variant: int = 0) -> str:
        objs, rel, pos = self.split(scene)
        nps = [self.np(o) for o in objs]
        v = variant % self.n_variants
        if rel is None:
            text = join_list(nps, ' et ')
            return f"{text} {POS[pos][v % 2]}" if pos else text
        a, b = rel["a"], rel["b"]
        rest = [nps[i] for i in self.others(scene)]
        if v == 1:
            core = f"{nps[b]} avec {nps[a]} {REL_POST1[rel['rel']]}"
        else:
            phrase = REL_MID[rel["rel"]][0 if v == 0 else 1]
            head, prep = phrase.rsplit(" ", 1)
            core = f"{nps[a]} {head} {self.np(objs[b], prep)}"
            if v == 2 and rest:
                return f"{join_list(rest, ' et ')}, et {core}"
        return f"{core}, et {join_list(rest, ' et ')}" if rest else core

    def entries(self) -> list[tuple[str, Entry]]:
        out = [(w, Entry("shape", k)) for k, (w, _) in SHAPES.items()]
        out += table_entries("color", COLORS)
        out += table_entries("size", SIZES)
        for k, ws in REL_MID.items():
            for w in ws:
                out += [(w, Entry("rel", k, "mid")), (w[:-1], Entry("rel", k, "mid"))]  # "de"/"d'"
        out += table_entries("rel", REL_POST1, "post1")
        out += table_entries("pos", POS)
        out += table_entries("det", ["un", "une"])
        return out + table_entries("fn", FN)



register_grammar(French())
