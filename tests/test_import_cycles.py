"""Data flows one way: no two florenz modules import each other, even through a function-level import
(issue 16 removed build <-> pretrained <-> checkpoint, florenz <-> generate and train.loop <-> train.setup)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for f in SRC.rglob("*.py"):
        mod = ".".join(f.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        deps: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("florenz"):
                deps |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("florenz")}
        graph[mod] = deps - {mod}
    return {m: {d for d in deps if d in graph} for m, deps in graph.items()}


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for dep in graph[node]:
            if dep == start:
                return path + [start]
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, path + [dep]))
    return None


def test_no_import_cycles():
    graph = _graph()
    assert "florenz.models.build" in graph and "florenz.train.loop" in graph
    cycles = [c for m in sorted(graph) if (c := _cycle_from(graph, m))]
    assert not cycles, " -> ".join(cycles[0])


def test_the_check_finds_a_cycle():
    assert _cycle_from({"a": {"b"}, "b": {"a"}}, "a") == ["a", "b", "a"]
