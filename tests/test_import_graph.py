"""app/ and config.py import each other without cycles (every import counts, in a function or not).

A package whose __init__.py only hands names on (short, no def or class: a blueprint's face) is
left out, as it ties nothing together. The same rule as the workplace's import-cycle tool, here so
that CI fails on a cycle.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules(root, paths):
    """{dotted module name: file} for the .py files under paths (relative to root)."""
    found = {}
    for start in paths:
        files = [root / start] if start.endswith(".py") else sorted((root / start).rglob("*.py"))
        for path in files:
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def is_face(path, tree):
    """An __init__.py under 40 lines that defines nothing: it only hands names on."""
    defines = any(
        isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for n in ast.walk(tree)
    )
    return path.name == "__init__.py" and len(path.read_text().splitlines()) < 40 and not defines


def owner(name, known):
    """The project module that a dotted name is, or lies in (a.b.c is a name in module a.b)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imported_names(tree, package):
    """Every dotted name an import statement in tree reaches, relative imports resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(filter(None, [*anchor, base]))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(root, paths):
    """{module: modules it imports}, among the project's own modules, faces left out."""
    files = modules(root, paths)
    trees = {name: ast.parse(path.read_text(), str(path)) for name, path in files.items()}
    faces = {name for name, path in files.items() if is_face(path, trees[name])}
    graph = {}
    for name, path in files.items():
        if name in faces:
            continue
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        hits = {owner(target, files) for target in imported_names(trees[name], package)}
        graph[name] = {hit for hit in hits if hit and hit not in faces and hit != name}
    return graph


def a_cycle(graph):
    """One import cycle as a list of modules (first = last), or None."""
    state, path = {}, []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = "done"
        return None

    return next((found for module in sorted(graph) if module not in state and (found := visit(module))), None)


def test_the_app_and_its_configuration_have_no_import_cycle():
    graph = import_graph(ROOT, ["app", "config.py"])
    assert len(graph) > 40  # the walk found the app's modules
    assert a_cycle(graph) is None


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg.b import thing\n")
    (tmp_path / "pkg" / "b.py").write_text("def thing():\n    from pkg import a\n    return a\n")
    (tmp_path / "pkg" / "c.py").write_text("from . import a\n")
    assert a_cycle(import_graph(tmp_path, ["pkg"])) == ["pkg.a", "pkg.b", "pkg.a"]
    (tmp_path / "pkg" / "b.py").write_text("def thing():\n    return 1\n")
    assert a_cycle(import_graph(tmp_path, ["pkg"])) is None
