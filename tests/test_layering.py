# SPDX-License-Identifier: GPL-3.0-or-later
"""The package's layering, read from the source: every import (at module level and inside
functions, relative or absolute) between LiftRig's modules, checked for cycles; bpy only in
addon/; no torch, cv2 or mediapipe in the shared vocabulary or in retargeting."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = {"tests", "benchmarks", "build", "dist", ".venv", ".venv-latest", "runs", "out"}
# The shared vocabulary: modules every stage may use, which import nothing heavy.
VOCABULARY = {"liftrig.errors", "liftrig.fileio", "liftrig.progress", "liftrig.formats",
              "liftrig.subprocesses", "liftrig.paths",
              "liftrig.h36m", "liftrig.checks", "liftrig.options", "liftrig.requirements",
              "liftrig.motion"}
HEAVY = {"torch", "cv2", "mediapipe", "bpy"}


def package_modules() -> dict[str, Path]:
    """``liftrig.x.y`` -> its file, for every module of the package."""
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in OUTSIDE or any(p.startswith(".") for p in rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(["liftrig", *parts])] = path
    return out


def imports_of(module: str, path: Path, modules=()) -> set[str]:
    """Every module name ``module`` imports, anywhere in its file, made absolute. ``from X
    import a`` counts X.a where that is one of ``modules``, else X (a name defined in X)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            for alias in node.names:
                names.add(f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in modules else stem)
    return names


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(edges between package modules, the outside top-level modules each one imports)."""
    modules = package_modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges, outside = {}, {}
    for module, path in modules.items():
        names = imports_of(module, path, modules)
        edges[module] = {m for m in map(owner, names) if m and m != module and m != "liftrig"}
        outside[module] = {n.split(".")[0] for n in names if not n.startswith("liftrig")}
    return edges, outside


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    edges, _ = graph()
    assert cycles(edges) == []


def test_bpy_only_in_the_blender_shell():
    _, outside = graph()
    leaks = sorted(m for m, names in outside.items()
                   if "bpy" in names and not m.startswith("liftrig.addon")
                   and m != "liftrig")   # the extension's entry registers the add-on
    assert leaks == []


def test_no_heavy_imports_in_the_vocabulary_or_retargeting():
    _, outside = graph()
    for module, names in outside.items():
        if module in VOCABULARY or module.startswith("liftrig.retarget"):
            assert not names & HEAVY, (module, names & HEAVY)


def test_nothing_below_imports_a_shell():
    """The stages (vocabulary, 2D, lifter, retargeting, training, the pipeline) never import the
    shells: the command-line modules and the Blender add-on."""
    edges, _ = graph()
    shells = {m for m in edges if m.startswith("liftrig.addon") or m == "liftrig.cli"
              or m.endswith("commands")}
    for module, targets in edges.items():
        if module in shells or module in ("liftrig", "liftrig.__main__"):  # the entry points
            continue
        assert not targets & shells, (module, sorted(targets & shells))


def test_the_checker_sees_a_cycle_and_function_level_imports(tmp_path):
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from ..lifter import inference\n    import bpy\n")
    assert {"liftrig.lifter.inference", "bpy"} <= imports_of(
        "liftrig.retarget.m", source, {"liftrig.lifter.inference"})


def test_each_layer_imports_only_the_layers_below():
    """The vocabulary imports only itself; the stages (2D, lifter, retargeting, training) never
    import the orchestration layer (``liftrig.pipeline``), which sits above them."""
    edges, _ = graph()
    for module, targets in edges.items():
        if module in VOCABULARY:
            assert targets <= VOCABULARY, (module, sorted(targets - VOCABULARY))
        stage = module.split(".")[1] if module.count(".") else ""
        if stage in ("detect", "lifter", "retarget", "training") and not module.endswith("commands"):
            above = {t for t in targets if t.startswith("liftrig.pipeline")}
            assert not above, (module, sorted(above))
