"""crm-store's shape, checked from its source (no import runs): one package per feature, a small
`core`, and the service skeleton (`app`, `config`, `http`, `publisher`, `metrics`, `migrate`) at
the top of the package.

The rules:

* **Directions.** `ALLOWED` says which parts of crm-store each part may import. A feature uses
  those below it; nothing imports `app`; `core` imports no feature. A new import outside the
  table fails here: change the table deliberately, or move the code.
* **No cycles** between parts, in the table or in the code.
* **Public surfaces.** Another package is imported through what its `__init__` exposes in
  `__all__`: `from crm_store.directory import linking` or `... import DirectoryRepository`, never
  `from crm_store.directory.repository import ...`. Inside a package, its modules import each
  other freely. A top-level module (`config`, `metrics`, ...) is its own surface.
* **Small modules**: none over `MAX_LINES` lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import crm_store

ROOT = Path(crm_store.__file__).parent
MAX_LINES = 450
FEATURES = ("activities", "directory", "people", "interactions", "reports", "settings")

# part → the parts it may import. Packages: core, the features, web, migrations; top-level
# modules: the rest ("crm_store" is the package's own __init__, which holds the version).
ALLOWED: dict[str, frozenset[str]] = {
    "crm_store": frozenset(),
    "config": frozenset(),
    "metrics": frozenset({"crm_store"}),
    "core": frozenset({"config"}),
    "publisher": frozenset({"core", "metrics"}),
    "activities": frozenset({"core", "metrics"}),
    "directory": frozenset({"core", "activities"}),
    "people": frozenset({"core", "activities", "directory"}),
    "interactions": frozenset(
        {"core", "config", "metrics", "publisher", "activities", "directory", "people"}
    ),
    "reports": frozenset({"core", "activities", "people"}),
    "settings": frozenset({"core", "config"}),
    "web": frozenset(
        {
            "core",
            "config",
            "metrics",
            "activities",
            "directory",
            "people",
            "interactions",
            "reports",
            "settings",
        }
    ),
    "http": frozenset({"core", *FEATURES}),
    "migrate": frozenset({"core", "config"}),
    "migrations": frozenset({"core", "config"}),
    "app": frozenset(
        {"crm_store", "core", "config", "metrics", "publisher", "migrate", "http", "web", *FEATURES}
    ),
    "openapi": frozenset({"app", "config"}),
    "__main__": frozenset({"app", "config"}),
}
PACKAGES = frozenset({"core", "web", "migrations", *FEATURES})


@dataclass(frozen=True)
class Import:
    source: Path
    line: int
    module: str
    """The module imported from, absolute (`crm_store.directory.repository`)."""
    names: tuple[str, ...]
    """The names taken from it (`from m import a, b`); empty for `import m`."""


def part_of(module: str) -> str | None:
    """The part of crm-store a dotted module name belongs to; None outside crm-store."""
    head, *rest = module.split(".")
    if head != "crm_store":
        return None
    if not rest:
        return "crm_store"
    return rest[0]


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def imports_of(path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            yield Import(path, node.lineno, module, tuple(a.name for a in node.names))


def crm_imports() -> list[Import]:
    return [i for p in python_files() for i in imports_of(p) if part_of(i.module) is not None]


def exposed(package: str) -> frozenset[str]:
    """The names a package's `__init__` lists in `__all__`."""
    tree = ast.parse((ROOT / package / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return frozenset(ast.literal_eval(node.value))
    return frozenset()


def target_parts(found: Import) -> list[str]:
    """The parts an import reaches: `from crm_store import web, app` reaches two."""
    part = part_of(found.module)
    if part == "crm_store" and found.names:
        return [n if n in ALLOWED else "crm_store" for n in found.names]
    return [part] if part is not None else []


def where(found: Import) -> str:
    return f"{found.source.relative_to(ROOT.parent)}:{found.line}"


def dependencies() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {part: set() for part in ALLOWED}
    for found in crm_imports():
        source = part_of(module_name(found.source))
        assert source is not None
        for target in target_parts(found):
            if target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def cycle_in(graph: dict[str, set[str]] | dict[str, frozenset[str]]) -> list[str] | None:
    """One cycle of the graph (its parts in order, the first repeated at the end), or None."""
    done: set[str] = set()

    def visit(part: str, path: list[str]) -> list[str] | None:
        if part in path:
            return [*path[path.index(part) :], part]
        if part in done:
            return None
        for target in sorted(graph.get(part, ())):
            if (found := visit(target, [*path, part])) is not None:
                return found
        done.add(part)
        return None

    for part in sorted(graph):
        if (found := visit(part, [])) is not None:
            return found
    return None


def test_every_part_of_crm_store_is_in_the_table() -> None:
    parts = {part_of(module_name(p)) for p in python_files()}
    assert parts == set(ALLOWED), "add the new part to ALLOWED (and decide what it may import)"


def test_imports_follow_the_allowed_directions() -> None:
    wrong = [
        f"{where(found)}: {source} may not import {target} (`{found.module}`)"
        for found in crm_imports()
        if (source := part_of(module_name(found.source))) is not None
        for target in target_parts(found)
        if target != source and target not in ALLOWED[source]
    ]
    assert not wrong, "imports outside the allowed directions:\n" + "\n".join(wrong)


def test_no_cycles_between_parts() -> None:
    assert cycle_in(ALLOWED) is None, f"the table allows a cycle: {cycle_in(ALLOWED)}"
    found = cycle_in(dependencies())
    assert found is None, "import cycle between parts: " + " → ".join(found or [])


def test_packages_are_imported_through_what_they_expose() -> None:
    wrong: list[str] = []
    for found in crm_imports():
        source = part_of(module_name(found.source))
        target = part_of(found.module)
        if target not in PACKAGES or target == source:
            continue
        package = f"crm_store.{target}"
        if found.module != package:
            wrong.append(f"{where(found)}: `{found.module}` is inside {package}")
            continue
        hidden = sorted(set(found.names) - exposed(target))
        if not found.names:
            wrong.append(f"{where(found)}: `import {package}`; import the names it exposes")
        elif hidden:
            wrong.append(f"{where(found)}: {package} does not expose {', '.join(hidden)}")
    assert not wrong, "imports of another package's internals:\n" + "\n".join(wrong)


def test_no_module_is_over_the_limit() -> None:
    long = {
        str(p.relative_to(ROOT.parent)): n
        for p in python_files()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by what they do): {long}"
