"""English: "a small red circle to the left of a large blue square" and paraphrases."""

from __future__ import annotations

from florenz.world.grammar import Entry, Grammar, join_list, register_grammar, table_entries

SHAPES = {"circle": "circle", "square": "square", "triangle": "triangle", "star": "star", "cross": "cross",
          "diamond": "diamond"}
COLORS = {"red": "red", "green": "green", "blue": "blue", "yellow": "yellow", "purple": "purple",
          "orange": "orange", "white": "white"}
SIZES = {"small": "small", "large": "large"}
REL_MID = {"left": ["to the left of", "left of"], "right": ["to the right of", "right of"],
           "above": ["above", "over"], "below": ["below", "under"]}
REL_POST1 = {"left": "to its left", "right": "to its right", "above": "above it", "below": "below it"}
POS = {"left": ["on the left", "on the left side"], "right": ["on the right", "on the right side"],
       "top": ["at the top", "near the top"], "bottom": ["at the bottom", "near the bottom"],
       "center": ["in the center", "in the middle"]}
FN = ["and", "with", "the", "image", "shows"]


class English(Grammar):
    code = "en"

    def np(self, o: dict) -> str:
        words = [SIZES[o["size"]]] if o.get("size") else []
        words += [COLORS[o["color"]]] if o.get("color") else []
        words.append(SHAPES[o["shape"]])
        return ("an " if words[0][0] in "aeiou" else "a ") + " ".join(words)

    def describe(self, scene: dict, variant: int = 0) -> str:
        objs, rel, pos = self.split(scene)
        nps = [self.np(o) for o in objs]
        v = variant % self.n_variants
        if rel is None:
            text = join_list(nps, ' and ')
            return f"{text} {POS[pos][v % 2]}" if pos else text
        a, b = nps[rel["a"]], nps[rel["b"]]
        rest = [nps[i] for i in self.others(scene)]
        if v == 0:
            core = f"{a} {REL_MID[rel['rel']][0]} {b}"
        elif v == 1:
            core = f"{b} with {a} {REL_POST1[rel['rel']]}"
        else:
            core = f"{a} {REL_MID[rel['rel']][1]} {b}"
            if rest:
                return f"{join_list(rest, ' and ')}, and {core}"
        return f"{core}, and {join_list(rest, ' and ')}" if rest else core

    def entries(self) -> list[tuple[str, Entry]]:
        out = table_entries("shape", SHAPES)
        out += table_entries("color", COLORS)
        out += table_entries("size", SIZES)
        out += table_entries("rel", REL_MID, "mid")
        out += table_entries("rel", REL_POST1, "post1")
        out += table_entries("pos", POS)
        return out + table_entries("det", ["a", "an"]) + table_entries("fn", FN)



register_grammar(English())
