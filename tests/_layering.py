"""An import-direction checker: parse a package's imports with `ast` and report imports that go against a
declared stage order, and import cycles. Used by test_layout.py on `lab` and on a broken fixture package."""
from __future__ import annotations

import ast
from pathlib import Path


def module_names(package_dir: Path) -> dict[str, Path]:
    """Every module of the package at `package_dir`: dotted name -> file (`pkg.sub` for `pkg/sub/__init__.py`)."""
    root = package_dir.parent
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[:len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(package_dir: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports anywhere in its body (functions included: a lazy import is
    still a dependency). `from a import b` counts as `a.b` when that is a module, else as `a`."""
    modules = module_names(package_dir)
    top = package_dir.name
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", node)
                for alias in node.names:
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        graph[name] = {t for t in targets if (t == top or t.startswith(top + ".")) and t != name}
    return graph


def stage(module: str, order: list[str]) -> int:
    """Index of the most specific entry of `order` that is `module` or a package above it."""
    matches = [i for i, s in enumerate(order) if module == s or module.startswith(s + ".")]
    if not matches:
        raise ValueError(f"{module} belongs to no declared stage")
    return max(matches, key=lambda i: len(order[i]))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def violations(package_dir: Path, order: list[str]) -> list[str]:
    """One line per import from a lower stage into a higher one, and per import cycle."""
    graph = imports(package_dir)
    for module in graph:
        stage(module, order)  # every module belongs to a declared stage
    problems = [f"{m} (stage {order[stage(m, order)]}) imports {t} (stage {order[stage(t, order)]})"
                for m in sorted(graph) for t in sorted(graph[m]) if stage(t, order) > stage(m, order)]
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems
