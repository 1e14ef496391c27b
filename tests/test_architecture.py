"""The shape of the package: no import cycles, the public API pinned, parts kept small."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import crawler

PACKAGE = Path(crawler.__file__).parent

# The public API (crawler/__init__.py). Changing it is a decision: change this too.
PUBLIC = [
    "ConfigError", "CrawlConfig", "CrawlStats", "Crawler", "CrawlerError", "FetchError",
    "Item", "Request", "Response", "Spider", "SpiderLoadError", "crawl", "load_config", "run",
    # issue 14: fetching a given list of URLs, following nothing, as an async iterator
    "fetch_all", "Fetching",
]
FETCH_ALL_PARAMETERS = ["urls", "config", "settings", "output", "name"]
CRAWL_PARAMETERS = ["spider", "config", "settings", "output"]
CRAWLER_PARAMETERS = ["self", "spider", "config", "output", "settings", "progress", "fetcher",
                      "frontier", "sinks", "hooks", "announce"]

MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 270
MAX_FUNCTION_LINES = 40  # not counting the docstring


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `name` imports, anywhere in the file (TYPE_CHECKING,
    functions included): importing a submodule is an edge to it, importing a name
    from a package is an edge to the package's __init__."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in known else base)
    return {module for module in found if module in known and module != name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the chain of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 40  # the graph was really read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_nothing_inside_the_package_imports_the_public_facade() -> None:
    importers = sorted(name for name, imported in import_graph().items() if "crawler" in imported
                       and name != "crawler.__main__")
    assert importers == []


def test_the_public_api_stays_as_it_is() -> None:
    assert sorted(crawler.__all__) == sorted(PUBLIC)
    assert list(inspect.signature(crawler.crawl).parameters) == CRAWL_PARAMETERS
    assert list(inspect.signature(crawler.run).parameters) == CRAWL_PARAMETERS
    assert list(inspect.signature(crawler.Crawler.__init__).parameters) == CRAWLER_PARAMETERS
    assert list(inspect.signature(crawler.fetch_all).parameters) == FETCH_ALL_PARAMETERS
    for name in PUBLIC:
        assert getattr(crawler, name) is not None


def test_modules_classes_and_functions_stay_small() -> None:
    too_big = []
    for name, path in modules().items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_big.append(f"module {name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_CLASS_LINES:
                    too_big.append(f"class {name}.{node.name}: {lines} lines")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - _first_statement(node) + 1  # type: ignore[operator]
                if lines > MAX_FUNCTION_LINES:
                    too_big.append(f"function {name}.{node.name}: {lines} lines")
    assert too_big == []


def _first_statement(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    docstring = (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                 and isinstance(body[0].value.value, str))
    return body[1].lineno if docstring and len(body) > 1 else body[0].lineno
