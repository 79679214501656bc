"""No import cycle inside grace_edge. Every import counts, function-level ones too (most of ours are, to keep
``--help`` cheap): a function-level cycle still ties two modules together, and turns into an ImportError the day
one side moves its import to the top."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "grace_edge"

KNOWN: set[frozenset[str]] = set()  # cycles allowed for now: none


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> file; a package is named by its folder (grace_edge.runtime for runtime/__init__.py)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The grace_edge modules one file imports: ``from a import b`` names module a.b when there is one, else a."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {t for t in targets if t in known and t != name}


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imported(path, name, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> b -> ... -> a) per strongly connected group of modules (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while not group or member != node:
                        member = stack.pop()
                        group.add(member)
                    if len(group) > 1:
                        groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in stack:
                low[node] = min(low[node], index[child])
    return [_path_in(group, edges) for group in groups]


def _path_in(group: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A concrete cycle through the group's first module, by breadth-first search inside the group."""
    first = min(group)
    came: dict[str, str] = {}
    frontier = [first]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(edges[node] & group):
                if child == first:
                    path = [node]
                    while path[-1] != first:
                        path.append(came[path[-1]])
                    return [first, *reversed(path[:-1]), first]
                if child not in came:
                    came[child] = node
                    nxt.append(child)
        frontier = nxt
    return sorted(group)


def test_the_package_has_no_import_cycle() -> None:
    found = [c for c in cycles(graph()) if frozenset(c) not in KNOWN]
    assert not found, "import cycle(s): " + "; ".join(" -> ".join(c) for c in found)


def test_the_graph_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "grace_edge"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("from .b import thing\n")
    (pkg / "a" / "b.py").write_text("def f():\n    from grace_edge.c import g\n")
    (pkg / "c.py").write_text("def g():\n    from grace_edge.a import b\n")
    assert cycles(graph(pkg)) == [["grace_edge.a.b", "grace_edge.c", "grace_edge.a.b"]]
