"""Static checks the suite runs (so the README's test command runs what CI runs): ruff, mypy on the typed
core, and no import cycle among archdsl's modules, counting the imports inside functions."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "archdsl", "tests", "benchmarks", "examples"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_is_clean_on_the_ir_the_passes_and_the_registry():
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)  # pyproject
    assert done.returncode == 0, done.stdout + done.stderr


def imports() -> nx.DiGraph:
    """archdsl's modules and what each imports, at module level or inside functions."""
    modules = {}
    for path in (ROOT / "archdsl").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = nx.DiGraph()
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        graph.add_node(name)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target not in (name, "archdsl"):
                    graph.add_edge(name, target)
    return graph


def test_no_import_cycles():
    graph = imports()
    assert graph.number_of_edges() > 100  # the walk saw the package's imports
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not cycles, cycles


def test_the_reports_do_not_import_the_drawing_backend():
    reachable = nx.descendants(imports(), "archdsl.reporting.summary")
    assert not any(m.startswith("archdsl.backends") for m in reachable), sorted(reachable)
