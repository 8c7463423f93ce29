"""Russian: nominative after "На картинке изображен", genitive after "слева от", instrumental after
"над"/"под", adjective endings by gender; no articles."""

from __future__ import annotations

from florenz.world.grammar import Entry, Grammar, join_list, register_grammar, table_entries

# noun: gender, {case: form}
SHAPES = {"circle": ("m", {"nom": "круг", "gen": "круга", "ins": "кругом"}),
          "square": ("m", {"nom": "квадрат", "gen": "квадрата", "ins": "квадратом"}),
          "triangle": ("m", {"nom": "треугольник", "gen": "треугольника", "ins": "треугольником"}),
          "star": ("f", {"nom": "звезда", "gen": "звезды", "ins": "звездой"}),
          "cross": ("m", {"nom": "крест", "gen": "креста", "ins": "крестом"}),
          "diamond": ("m", {"nom": "ромб", "gen": "ромба", "ins": "ромбом"})}
_HARD = {("nom", "m"): "ый", ("nom", "f"): "ая", ("gen", "m"): "ого", ("gen", "f"): "ой", ("ins", "m"): "ым",
         ("ins", "f"): "ой"}
_SOFT = {("nom", "m"): "ий", ("nom", "f"): "яя", ("gen", "m"): "его", ("gen", "f"): "ей", ("ins", "m"): "им",
         ("ins", "f"): "ей"}
_VELAR = {**_HARD, ("nom", "m"): "ий", ("ins", "m"): "им"}  # маленький
_STRESSED = {**_HARD, ("nom", "m"): "ой", ("ins", "m"): "им"}  # большой
COLORS = {"red": ("красн", _HARD), "green": ("зелён", _HARD), "blue": ("син", _SOFT), "yellow": ("жёлт", _HARD),
          "purple": ("фиолетов", _HARD), "orange": ("оранжев", _HARD), "white": ("бел", _HARD)}
SIZES = {"small": ("маленьк", _VELAR), "large": ("больш", _STRESSED)}
REL_MID = {"left": ("слева от", "gen"), "right": ("справа от", "gen"), "above": ("над", "ins"),
           "below": ("под", "ins")}
REL_MID2 = {"left": ("левее", "gen"), "right": ("правее", "gen"), "above": ("выше", "gen"), "below": ("ниже", "gen")}
# "B, а слева от него A": the pronoun agrees with B's gender
REL_REV = {"left": ("слева от него", "слева от неё"), "right": ("справа от него", "справа от неё"),
           "above": ("над ним", "над ней"), "below": ("под ним", "под ней")}
POS = {"left": ["слева", "в левой части"], "right": ["справа", "в правой части"],
       "top": ["вверху", "в верхней части"], "bottom": ["внизу", "в нижней части"],
       "center": ["в центре", "посередине"]}
FN = ["и", "а", "также", "на", "картинке", "изображен"]


class Russian(Grammar):
    code = "ru"

    def np(self, o: dict, case: str) -> str:
        gender, forms = SHAPES[o["shape"]]
        words = []
        for attr, table in (("size", SIZES), ("color", COLORS)):
            if o.get(attr):
                stem, endings = table[o[attr]]
                words.append(stem + endings[(case, gender)])
        return " ".join([*words, forms[case]])

    def describe(self, scene: dict, variant: int = 0) -> str:
        objs, rel, pos = self.split(scene)
        nom = [self.np(o, "nom") for o in objs]
        v = variant % self.n_variants
        if rel is None:
            text = join_list(nom, ' и ')
            if not pos:
                return text
            return f"{text} {POS[pos][0]}" if v != 1 else f"{POS[pos][1]} {text}"
        a, b, r = rel["a"], rel["b"], rel["rel"]
        rest = [nom[i] for i in self.others(scene)]
        if v == 1:
            pron = REL_REV[r][0 if SHAPES[objs[b]["shape"]][0] == "m" else 1]
            core = f"{nom[b]}, а {pron} {nom[a]}"
        else:
            word, case = (REL_MID if v == 0 else REL_MID2)[r]
            core = f"{nom[a]} {word} {self.np(objs[b], case)}"
            if v == 2 and rest:
                return f"{join_list(rest, ' и ')}, а также {core}"
        return f"{core}, а также {join_list(rest, ' и ')}" if rest else core

    def entries(self) -> list[tuple[str, Entry]]:
        out = [(f, Entry("shape", k)) for k, (_, forms) in SHAPES.items() for f in forms.values()]
        for table, cat in ((COLORS, "color"), (SIZES, "size")):
            out += [(stem + e, Entry(cat, k)) for k, (stem, ends) in table.items() for e in set(ends.values())]
        out += [(w, Entry("rel", k, "mid")) for k, (w, _) in REL_MID.items()]
        out += [(w, Entry("rel", k, "mid")) for k, (w, _) in REL_MID2.items()]
        out += table_entries("rel", REL_REV, "mid_rev")
        out += table_entries("pos", POS)
        return out + table_entries("fn", FN)



register_grammar(Russian())
