"""The layers of the package, and which may import which: nothing below calls up.

Every module of `notifier` belongs to one layer (by the longest matching prefix in
LAYERS); every import of another notifier module, wherever it stands (top level, inside a
function, under TYPE_CHECKING), must go to its own layer or to one the table allows. A new
top-level module or package must be placed in the table before the suite passes.

    leaves       errors, clock, durations, source_settings, domain: settings and types
    config       settings only, on the leaves
    store        tables and repositories, on the domain and config
    channels     one module per channel, its capabilities declared on its class
    templating   rendering, lint; no store (the database-backed catalog is a service); asks
                 the channels what a channel's template is (parts, length rules)
    outbox       the outbox, its claims and retries
    engine       rules and planning; never the runtime, services or faces
    services     what the faces ask for; never the runtime or faces
    sources      watchers of shop databases, beside the services
    runtime      wiring (App), worker, serve process, simulation, demo; never the faces
    faces        api, web, cli: services and the runtime, never the store or the engine
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import notifier

PACKAGE = Path(notifier.__file__).parent

_LEAVES = frozenset({"package", "errors", "clock", "durations", "source_settings", "domain"})
_BELOW_ENGINE = _LEAVES | {"config", "store", "templating", "channels", "delivery", "outbox"}
_BELOW_RUNTIME = _BELOW_ENGINE | {"engine", "services", "sources", "sinks"}

# module prefix -> layer (the package's own __init__ is "package")
LAYERS: dict[str, str] = {
    "notifier.errors": "errors",
    "notifier.clock": "clock",
    "notifier.durations": "durations",
    "notifier.source_settings": "source_settings",
    "notifier.domain": "domain",
    "notifier.config": "config",
    "notifier.store": "store",
    "notifier.templating": "templating",
    "notifier.channels": "channels",
    "notifier.delivery": "delivery",
    "notifier.outbox": "outbox",
    "notifier.engine": "engine",
    "notifier.services": "services",
    "notifier.sources": "sources",
    "notifier.sinks": "sinks",
    "notifier.runtime": "runtime",
    "notifier.api": "faces",
    "notifier.web": "faces",
    "notifier.cli": "faces",
}

# layer -> the other layers it may import
ALLOWED: dict[str, frozenset[str]] = {
    "package": frozenset(),
    "errors": frozenset(),
    "clock": frozenset(),
    "durations": frozenset({"clock", "errors"}),
    "source_settings": frozenset({"domain", "errors"}),
    "domain": frozenset({"errors", "clock", "durations"}),
    "config": _LEAVES,
    "store": _LEAVES | {"config"},
    "templating": _LEAVES | {"config", "channels"},
    "channels": _LEAVES | {"config"},
    # Providers and their capacity, over the channels: breakers, failover and pacing. The
    # outbox's dispatcher is handed a pacer; it imports the failover wrapper.
    "delivery": _LEAVES | {"config", "store", "templating", "channels"},
    "outbox": _LEAVES | {"config", "store", "templating", "channels", "delivery"},
    "engine": _BELOW_ENGINE,
    "services": _BELOW_ENGINE | {"engine"},
    "sources": _BELOW_ENGINE | {"engine", "services"},
    # The local stand-ins of the providers (SMTP sink, Twilio) know nothing of notifier.
    "sinks": frozenset({"package"}),
    "runtime": _BELOW_RUNTIME,
    # Faces ask services (and the runtime that wires them); the engine, the outbox, the
    # channels and the store are theirs to call, not the faces'.
    "faces": (_BELOW_RUNTIME - {"store", "engine", "outbox", "channels", "delivery"})
    | {"runtime"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    if module == "notifier":
        return "package"  # its __init__: the version, nothing else
    while "." in module:
        if module in LAYERS:
            return LAYERS[module]
        module = module.rpartition(".")[0]
    return None


def _exists(module: str) -> bool:
    relative = Path(*module.split("."))
    root = PACKAGE.parent
    return (root / relative).with_suffix(".py").is_file() or (root / relative).is_dir()


def imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every notifier module that `path` (the module `module`) imports,
    anywhere in it."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from notifier import channels` imports the module notifier.channels.
            targets = [
                f"{base}.{alias.name}" if _exists(f"{base}.{alias.name}") else base
                for alias in node.names
            ]
        else:
            continue
        for target in dict.fromkeys(targets):  # once per statement, in order
            if target == "notifier" or target.startswith("notifier."):
                yield node.lineno, target


def violations(path: Path, module: str) -> list[str]:
    """What `path` imports that its layer may not, one line each; [] when all is well."""
    layer = layer_of(module)
    if layer is None or layer not in ALLOWED:
        return [f"{module} is in no layer: place it in LAYERS of tests/test_layers.py"]
    return [
        f"{module} ({layer}), line {line}: imports {target} ({target_layer})"
        for line, target in imports(path, module)
        if (target_layer := layer_of(target) or "?") != layer
        and target_layer not in ALLOWED[layer]
    ]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_modules() -> None:
    # Guards the parametrisation below against a wrong PACKAGE: no modules, no checks.
    assert len(MODULES) > 50, f"found only {len(MODULES)} modules under {PACKAGE}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_follow_the_layers(path: Path) -> None:
    module = module_name(path)
    wrong = violations(path, module)
    allowed = ", ".join(sorted(ALLOWED.get(layer_of(module) or "", ())))
    assert not wrong, "\n".join([*wrong, f"(its layer may import only: {allowed})"])


def test_the_checker_sees_every_kind_of_import(tmp_path: Path) -> None:
    # An import hidden in a function to dodge a cycle counts as much as one at the top.
    source = tmp_path / "config.py"
    source.write_text(
        "from notifier import store\n"
        "from . import errors\n"
        "def parse(value):\n"
        "    from notifier.engine.durations import parse_duration\n"
        "    import notifier.store.db\n"
        "    return parse_duration(value)\n"
    )
    wrong = violations(source, "notifier.config")
    assert [w.partition("imports ")[2].partition(" ")[0] for w in wrong] == [
        "notifier.store",
        "notifier.engine.durations",
        "notifier.store.db",
    ], wrong
    assert violations(tmp_path / "config.py", "notifier.nowhere") == [
        "notifier.nowhere is in no layer: place it in LAYERS of tests/test_layers.py"
    ]
