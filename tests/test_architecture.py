"""The folder tree is the architecture: these tests keep it true.

- ``index/`` (the knowledge library) never imports ``bot``;
- ``bot/answering/`` (question → answer) never imports the Discord app or the tools;
- ``bot/app/`` is the only place that imports ``discord``, and never imports the tools;
- no import cycles among the project's modules, lazy (function-level) imports included;
- no module grows past ``MAX_LINES``;
- nothing shipped imports ``tests`` (the installed entry point cannot see it).

Modules are read with ``ast`` (nothing is imported), so a lazy import inside a function counts
exactly like one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "index")
MAX_LINES = 600

# Which project layers each layer may import (a layer is a package prefix; the longest prefix wins).
ALLOWED = {
    "index": {"index"},
    "bot.measure": set(),
    "bot.answering": {"bot.answering", "index"},
    "bot.settings": {"bot.answering", "index"},
    "bot.app": {"bot.app", "bot.answering", "bot.settings", "bot.measure", "index"},
    "bot.tools": {"bot.tools", "bot.app", "bot.answering", "bot.settings", "bot.measure", "index"},
    "bot": {"bot.tools"},  # bot/__init__.py and bot/__main__.py (python -m bot is the CLI)
}
DISCORD_LAYER = "bot.app"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, at any depth, resolved to the
    most specific known module (``from bot.answering import model`` is ``bot.answering.model``)."""
    tree = ast.parse(path.read_text("utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((candidate if candidate in modules else base, node.lineno))
    return found


def layer_of(name: str) -> str | None:
    matches = [layer for layer in ALLOWED if name == layer or name.startswith(layer + ".")]
    return max(matches, key=len) if matches else None


def project_target(imported: str, modules: dict[str, Path]) -> str | None:
    """The project module an import refers to (a name inside a module counts as the module)."""
    name = imported
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(
    root: Path, packages=PACKAGES
) -> tuple[dict[str, Path], dict[str, set[str]], list[tuple[str, str, int]]]:
    modules = project_modules(root, packages)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    raw: list[tuple[str, str, int]] = []
    for name, path in modules.items():
        for imported, line in imports_of(name, path, modules):
            raw.append((name, imported, line))
            target = project_target(imported, modules)
            if target is not None and target != name:
                graph[name].add(target)
    return modules, graph, raw


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for name, targets in sorted(graph.items()):
        layer = layer_of(name)
        for target in sorted(targets):
            target_layer = layer_of(target)
            if layer is None or target_layer is None or target_layer == layer:
                continue
            if target_layer not in ALLOWED[layer]:
                problems.append(f"{name} imports {target} ({layer} may not import {target_layer})")
    return problems


def discord_violations(raw: list[tuple[str, str, int]], modules: dict[str, Path]) -> list[str]:
    return [
        f"{modules[name].relative_to(PROJECT) if modules[name].is_relative_to(PROJECT) else modules[name]}:{line} "
        f"imports {imported}"
        for name, imported, line in raw
        if (imported == "discord" or imported.startswith("discord."))
        and not (name == DISCORD_LAYER or name.startswith(DISCORD_LAYER + "."))
    ]


# ---------------------------------------------------------------- the project


@pytest.fixture(scope="module")
def project():
    return import_graph(PROJECT)


def test_no_import_cycles(project):
    _, graph, _ = project
    assert cycles(graph) == []


def test_layers_import_only_downwards(project):
    _, graph, _ = project
    assert layer_violations(graph) == []


def test_discord_is_imported_only_by_the_app_package(project):
    modules, _, raw = project
    assert discord_violations(raw, modules) == []


def test_shipped_code_never_imports_the_test_suite(project):
    # The installed entry point (negotiations-bot) cannot see tests/: a bench phase that imported
    # a test helper failed only there.
    _, _, raw = project
    found = [
        f"{name}:{line} imports {imported}"
        for name, imported, line in raw
        if imported.split(".")[0] == "tests"
    ]
    assert found == []


def test_every_module_has_a_layer(project):
    modules, _, _ = project
    assert [name for name in modules if layer_of(name) is None] == []


def test_no_module_is_too_long():
    files = sorted(p for package in (*PACKAGES, "tests") for p in (PROJECT / package).rglob("*.py"))
    long = {
        str(p.relative_to(PROJECT)): n
        for p in files
        if (n := len(p.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these modules (over {MAX_LINES} lines): {long}"


# ---------------------------------------------------------------- the checks themselves can fail


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")


def test_a_lazy_import_cycle_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "bot/__init__.py": "",
            "bot/answering/__init__.py": "",
            "bot/answering/a.py": "from bot.answering.b import thing\n",
            "bot/answering/b.py": "def thing():\n    from bot.answering import a\n    return a\n",
        },
    )
    _, graph, _ = import_graph(tmp_path, ("bot",))
    assert cycles(graph) == [["bot.answering.a", "bot.answering.b"]]


def test_a_layer_violation_and_a_stray_discord_import_are_found(tmp_path):
    _write(
        tmp_path,
        {
            "bot/__init__.py": "",
            "bot/app/__init__.py": "",
            "bot/app/render.py": "import discord\n",
            "bot/answering/__init__.py": "",
            "bot/answering/x.py": "def f():\n    import discord.ui\n    from bot.app.render import y\n",
            "index/__init__.py": "",
            "index/y.py": "from bot.answering import x\n",
        },
    )
    modules, graph, raw = import_graph(tmp_path, ("bot", "index"))
    assert layer_violations(graph) == [
        "bot.answering.x imports bot.app.render (bot.answering may not import bot.app)",
        "index.y imports bot.answering.x (index may not import bot.answering)",
    ]
    assert [v.split(" imports ")[1] for v in discord_violations(raw, modules)] == ["discord.ui"]
