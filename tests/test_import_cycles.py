"""Clean boundaries: no import inside a function may hide an import cycle.

A function-level ``import visionblocks.X`` in module A is fine for an optional dependency
(torch, plots) but not when X imports A back (directly or through other imports, at any
level): that is a cycle the function-level import only hides. This test builds the module graph from
the source and lists every such edge.
"""

import ast
from pathlib import Path

import visionblocks

ROOT = Path(visionblocks.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(node, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:  # relative import
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [prefix] + [f"{prefix}.{a.name}" for a in node.names]


def _graph():
    modules = {}
    for path in ROOT.rglob("*.py"):
        modules[_module_name(path)] = path
    top, local = {m: set() for m in modules}, {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        top_nodes = set()
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                top_nodes.add(node)
            if isinstance(node, ast.Try):  # optional imports at module level
                top_nodes.update(
                    n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))
                )
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            found = {t for t in _targets(node, name, path.name == "__init__.py") if t in modules}
            # importing a.b.c also runs a and a.b
            for t in list(found):
                parts = t.split(".")
                found.update(
                    ".".join(parts[:i])
                    for i in range(2, len(parts))
                    if ".".join(parts[:i]) in modules
                )
            (top if node in top_nodes else local)[name].update(found - {name})
        local[name].update(_dynamic_imports(tree, modules) - {name})
    return top, local


def _dynamic_imports(tree, modules) -> set[str]:
    """Module names given as strings in a function that calls ``import_module``."""
    found = set()
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call)]
        if not any(
            getattr(c.func, "attr", getattr(c.func, "id", "")) == "import_module" for c in calls
        ):
            continue
        strings = {n.value for n in ast.walk(fn) if isinstance(n, ast.Constant)}
        found.update(v for v in strings if isinstance(v, str) and v in modules)
    return found


def _reaches(edges, start, goal):
    seen, stack = set(), [start]
    while stack:
        m = stack.pop()
        if m == goal:
            return True
        if m not in seen:
            seen.add(m)
            stack.extend(edges.get(m, ()))
            stack.extend(p for p in edges if m.startswith(p + ".") and p != m)  # parent packages
    return False


def test_no_function_level_import_hides_a_cycle():
    top, local = _graph()
    edges = {m: top[m] | local[m] for m in top}
    hidden = sorted(
        f"{a} -> {b}" for a, targets in local.items() for b in targets if _reaches(edges, b, a)
    )
    assert not hidden, f"function-level imports that hide a cycle: {hidden}"
