"""The folder tree tells the architecture, and this test holds the code to it.

* Each outside library has exactly one importer (or one package of them).
* Layers: a module imports only from its own layer or the layers below it (``ALLOWED``),
  counting imports inside functions and under ``TYPE_CHECKING``.
* No import cycles between modules, counted the same way.

The rules are checked by small functions over an import graph, so that a test can also
plant a violation in a copy of the real graph and see it caught.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

TRAY = Path(__file__).resolve().parent.parent / "tray"

#: library → the only module(s) allowed to import it (paths below tray/)
OWNERS = {
    "smartcard": {"pcsc/adapter.py", "pcsc/watch.py", "pcsc/codes.py"},
    "PyKCS11": {"card/pkcs11.py"},
    "pystray": {"ui/tray.py"},
    "dbus_fast": {"ui/sni.py"},
    "desktop_notifier": {"notify/backends.py"},
    "plyer": {"notify/backends.py"},
    "tomllib": {"config.py"},
    "tomli": {"config.py"},
}

#: the shared vocabulary: everything may import these, and they import only each other
FOUNDATION = {"tray", "tray.i18n", "tray.clock", "tray.errors", "tray.model", "tray.trace"}
#: the entry points: they wire everything, and nothing imports them
ENTRY = {"tray.app", "tray.cli", "tray.config", "tray.__main__"}
#: on top of the daemon: durable files, notifications and every rendering of results
TOP = {"store", "notify", "present"}
BELOW_TOP = {"foundation", "card", "net", "check", "daemon"}

#: layer → the layers its modules may import
ALLOWED: Mapping[str, set[str]] = {
    "foundation": {"foundation"},
    # one card: no PC/SC, no network, no files, no UI
    "card": {"foundation", "card"},
    "net": {"foundation", "net"},
    "check": {"foundation", "card", "net", "check"},
    "daemon": {"foundation", "card", "check", "daemon"},
    **{top: BELOW_TOP | TOP for top in TOP},
    "ui": BELOW_TOP | TOP | {"ui"},
    "autostart": {"foundation", "store", "autostart"},
    # the event sources and backends the entry points plug in
    "pcsc": {"foundation", "card", "daemon", "pcsc"},
    "demo": {"foundation", "card", "net", "check", "daemon", "demo"},
    "entry": {
        "foundation",
        *BELOW_TOP,
        *TOP,
        *("ui", "autostart", "pcsc", "demo", "entry"),
    },
}

Graph = Mapping[str, set[str]]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(TRAY.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, path: Path, known: Iterable[str]) -> set[str]:
    """The tray modules ``module`` imports anywhere in its source (TYPE_CHECKING included)."""
    known = set(known)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("tray")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("tray"):
                continue
            for alias in node.names:
                # "from . import status" imports the module tray.status
                full = f"{target}.{alias.name}"
                found.add(full if full in known else target)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in TRAY.rglob("*.py")}
    return {module: imports_of(module, path, paths) for module, path in paths.items()}


def layer(module: str) -> str:
    if module in FOUNDATION:
        return "foundation"
    if module in ENTRY:
        return "entry"
    return module.split(".")[1]


def layer_violations(graph: Graph) -> list[str]:
    """'a imports b' for every import that reaches above (or beside) the importer's layer."""
    found = []
    for module, targets in sorted(graph.items()):
        allowed = ALLOWED.get(layer(module))
        if allowed is None:
            found.append(f"{module} is in no known layer ({layer(module)})")
            continue
        found += [
            f"{module} ({layer(module)}) imports {target} ({layer(target)})"
            for target in sorted(targets)
            if layer(target) not in allowed
        ]
    return found


def cycles(graph: Graph) -> list[list[str]]:
    """The import cycles: strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_each_outside_library_has_one_owner() -> None:
    offenders = []
    for path in sorted(TRAY.rglob("*.py")):
        rel = path.relative_to(TRAY).as_posix()
        for library in imported_roots(path) & set(OWNERS):
            if rel not in OWNERS[library]:
                offenders.append(f"{rel} imports {library}")
    assert offenders == []


def test_every_module_imports_only_its_own_layer_and_those_below() -> None:
    assert layer_violations(import_graph()) == []


def test_there_are_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_a_planted_upward_import_or_cycle_is_caught() -> None:
    graph = {module: set(targets) for module, targets in import_graph().items()}
    graph["tray.card.guard"].add("tray.ui.menu")
    graph["tray.check.items"].add("tray.store.history")
    assert layer_violations(graph) == [
        "tray.card.guard (card) imports tray.ui.menu (ui)",
        "tray.check.items (check) imports tray.store.history (store)",
    ]
    graph = {module: set(targets) for module, targets in import_graph().items()}
    graph["tray.model"].add("tray.daemon.diagnosis")  # diagnosis → model → diagnosis
    # the cycle holds the modules between them too (diagnosis → check.advice → model)
    assert any({"tray.daemon.diagnosis", "tray.model"} <= set(c) for c in cycles(graph))


def test_every_package_is_in_a_layer() -> None:
    packages = {path.name for path in TRAY.iterdir() if (path / "__init__.py").exists()}
    assert packages - {"locale"} <= set(ALLOWED), packages - set(ALLOWED)


def test_profiles_never_touch_pcsc_or_the_simulator() -> None:
    for path in (TRAY / "card" / "profiles").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "pcsc" not in source.replace("PC/SC", ""), path
        assert ".demo" not in source, path
