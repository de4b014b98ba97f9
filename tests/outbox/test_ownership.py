"""The outbox table has one owner: only modules of notifier/outbox/ build statements on it.

The schema (store/tables.py) and the migrations define it; anything else reaching for the
table, by import or by SQL text, is a fourth home in the making.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import notifier

PACKAGE = Path(notifier.__file__).parent
OWNER = PACKAGE / "outbox"
# Where the table is defined, not used.
DEFINITIONS = {PACKAGE / "store" / "tables.py", PACKAGE / "store" / "schema.py"}
MIGRATIONS = PACKAGE / "store" / "migrations"
TABLES_MODULE = "notifier.store.tables"
SQL_ON_OUTBOX = re.compile(r"\b(from|into|update|join|table)\s+\"?outbox\b", re.IGNORECASE)


def _uses(source: str) -> list[str]:
    """How a module reaches the outbox table: importing it, naming it on the tables module,
    or SQL text that reads or writes it."""
    found = []
    tree = ast.parse(source)
    tables_aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == TABLES_MODULE:
            if any(a.name == "outbox" for a in node.names):
                found.append(f"line {node.lineno}: imports outbox")
        elif isinstance(node, ast.ImportFrom) and node.module == "notifier.store":
            tables_aliases |= {a.asname or a.name for a in node.names if a.name == "tables"}
        elif isinstance(node, ast.Import):
            tables_aliases |= {a.asname or a.name for a in node.names if a.name == TABLES_MODULE}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "outbox"
            and ast.unparse(node.value) in tables_aliases
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and SQL_ON_OUTBOX.search(node.value)
        ):
            found.append(f"line {node.lineno}: SQL text on outbox")
    return found


def _modules_outside_the_owner() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if OWNER not in path.parents and MIGRATIONS not in path.parents and path not in DEFINITIONS
    ]


def test_only_the_outbox_package_touches_the_outbox_table() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): uses
        for path in _modules_outside_the_owner()
        if (uses := _uses(path.read_text(encoding="utf-8")))
    }
    assert not offenders, f"statements on the outbox table outside notifier/outbox/: {offenders}"


def test_the_check_sees_each_way_of_reaching_the_table() -> None:
    """The scan itself can fail: each way in is caught."""
    assert _uses("from notifier.store.tables import customers, outbox\n")
    assert _uses("from notifier.store import tables\nq = tables.outbox.select()\n")
    assert _uses("import notifier.store.tables\nq = notifier.store.tables.outbox\n")
    assert _uses("q = text('UPDATE outbox SET status = 1')\n")
    assert _uses("q = 'select count(*) from outbox'\n")
    assert not _uses("from notifier.store.tables import customers\n")
    assert not _uses("TOPIC = 'outbox'  # a wake-up topic, not the table\n")


def test_the_scan_covers_the_package() -> None:
    """The scan reads every layer that once held outbox statements (a moved package would
    otherwise leave it checking nothing)."""
    scanned = {p.relative_to(PACKAGE).parts[0] for p in _modules_outside_the_owner()}
    assert {"engine", "services", "store", "api", "runtime"} <= scanned, scanned
