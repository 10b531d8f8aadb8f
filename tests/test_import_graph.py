"""gemma_jax's import graph stays acyclic, between modules and between packages, counting imports
inside functions too.

A function-level import hides a cycle from Python (it runs late) but not from a reader of the
code: data/formats.py once imported the readers that imported it, config's validate() imported the
memory check of models/ (which imports config), and Cloud Storage reached into models/ for a timeout.
"""

from __future__ import annotations

import ast
from pathlib import Path

from gemma_jax.data.formats import FORMATS
from gemma_jax.data.reader_registry import FILE_READERS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "gemma_jax.data"
READERS = {"csv_readers", "gcs_data", "hub_readers", "json_readers", "line_readers", "table_readers", "text_readers"}


def _modules(package: str = PACKAGE) -> dict[str, Path]:
    """Every module of `package` and its subpackages by dotted name."""
    found = {}
    for path in (ROOT / Path(*package.split("."))).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules `name` imports anywhere in its file (module level or inside functions)."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            base = ".".join(part for part in (base, node.module or "") if part)
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {target for target in targets if target in modules and target != name}


def _graph(package: str = PACKAGE) -> dict[str, set[str]]:
    modules = _modules(package)
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _package_graph() -> dict[str, set[str]]:
    """gemma_jax's subpackages and top-level modules (gemma_jax.config, gemma_jax.cloud_storage, ...)."""
    graph: dict[str, set[str]] = {}
    for name, imported in _graph("gemma_jax").items():
        here = ".".join(name.split(".")[:2])
        graph.setdefault(here, set()).update(".".join(m.split(".")[:2]) for m in imported)
    return {name: targets - {name, "gemma_jax"} for name, targets in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for child in graph[todo.pop()] - seen:
            seen.add(child)
            todo.append(child)
    return seen


def test_the_cycle_finder_finds_a_function_level_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_and_package_imports():
    graph = _graph()
    assert f"{PACKAGE}.json_readers" in graph[f"{PACKAGE}.reader_registry"]  # imported inside a function
    assert f"{PACKAGE}.limits" in graph[f"{PACKAGE}.errors"]  # `from gemma_jax.data import limits`


def test_gemma_jax_data_has_no_import_cycle():
    cycles = _cycles(_graph())
    assert cycles == [], f"import cycles in {PACKAGE} (counting imports inside functions): {cycles}"


def test_gemma_jax_has_no_import_cycle_between_modules():
    cycles = _cycles(_graph("gemma_jax"))
    assert cycles == [], f"import cycles in gemma_jax (counting imports inside functions): {cycles}"


def test_gemma_jax_packages_import_each_other_in_one_direction():
    """No two of gemma_jax's packages reach each other: each sits on a floor above what it imports."""
    cycles = _cycles(_package_graph())
    assert cycles == [], f"packages that import each other (counting imports inside functions): {cycles}"


def test_config_depends_on_no_package_above_it():
    """The config is the contract every layer reads: it imports only leaf modules."""
    assert _package_graph()["gemma_jax.config"] <= {
        "gemma_jax.storage_cost",
        "gemma_jax.metrics",
        "gemma_jax.atomic_files",
        "gemma_jax.cpu_features",
    }


def test_format_detection_and_record_types_import_no_reader():
    """Readers may use formats.py, record_source.py and preference_pair.py because these reach no reader."""
    graph = _graph()
    for leaf in ("formats", "record_source", "preference_pair"):
        reached = {name.rpartition(".")[2] for name in _reachable(graph, f"{PACKAGE}.{leaf}")}
        assert not reached & (READERS | {"reader_registry", "readers"}), (leaf, sorted(reached))


def test_only_the_registry_and_the_readers_themselves_import_readers():
    graph = _graph()
    for name, imported in graph.items():
        short = name.rpartition(".")[2]
        if short in READERS or short == "reader_registry":
            continue
        assert not {m.rpartition(".")[2] for m in imported} & (READERS - {"gcs_data"}), name


def test_every_file_format_has_a_reader():
    assert set(FILE_READERS) == set(FORMATS) - {"auto"}
