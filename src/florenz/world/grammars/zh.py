"""Chinese: measure words (一个圆形, 一颗星星), attributes before the noun with optional 的,
relations as "A在B的左边" or "B，左边是A"; no spaces, parsed by longest match over characters."""

from __future__ import annotations

from florenz.world.grammar import Entry, Grammar, join_list, register_grammar, table_entries

SHAPES = {"circle": ("圆形", "个"), "square": ("正方形", "个"), "triangle": ("三角形", "个"),
          "star": ("星星", "颗"), "cross": ("十字", "个"), "diamond": ("菱形", "个")}
COLORS = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "purple": "紫色", "orange": "橙色",
          "white": "白色"}
SIZES = {"small": "小", "large": "大"}
REL_POST2 = {"left": ["的左边", "的左侧"], "right": ["的右边", "的右侧"], "above": ["的上面", "的上方"],
             "below": ["的下面", "的下方"]}
REL_REV = {"left": "左边是", "right": "右边是", "above": "上面是", "below": "下面是"}
POS = {"left": ["位于左侧", "在画面左边"], "right": ["位于右侧", "在画面右边"], "top": ["位于上方", "在画面上面"],
       "bottom": ["位于下方", "在画面下面"], "center": ["位于中间", "在画面中间"]}
FN = ["在", "的", "和", "还有", "图为"]


class Chinese(Grammar):
    code = "zh"
    segmentation = "char"

    def np(self, o: dict, v: int) -> str:
        noun, mw = SHAPES[o["shape"]]
        size = SIZES[o["size"]] if o.get("size") else ""
        color = COLORS[o["color"]] if o.get("color") else ""
        # variant 1: 一个红色的小圆形; otherwise 一个小红色圆形
        mods = (color + "的" if color else "") + size if v == 1 else size + color
        return f"一{mw}{mods}{noun}"

    def describe(self, scene: dict, variant: int = 0) -> str:
        objs, rel, pos = self.split(scene)
        v = variant % self.n_variants
        nps = [self.np(o, v) for o in objs]
        if rel is None:
            text = join_list(nps, '和', '、')
            return f"{text}，{POS[pos][v % 2]}" if pos else text
        a, b, r = rel["a"], rel["b"], rel["rel"]
        rest = [nps[i] for i in self.others(scene)]
        core = f"{nps[b]}，{REL_REV[r]}{nps[a]}" if v == 1 else f"{nps[a]}在{nps[b]}{REL_POST2[r][v // 2]}"
        return f"{core}，还有{join_list(rest, '和', '、')}" if rest else core

    def entries(self) -> list[tuple[str, Entry]]:
        out = [(w, Entry("shape", k)) for k, (w, _) in SHAPES.items()]
        out += table_entries("color", COLORS)
        out += table_entries("size", SIZES)
        out += table_entries("rel", REL_POST2, "post2")
        out += table_entries("rel", REL_REV, "mid_rev")
        out += table_entries("pos", POS)
        out += table_entries("det", ["一个", "一颗"])
        return out + table_entries("fn", FN)



register_grammar(Chinese())
