"""The packages import downwards only: a change in one room never needs the rooms above it.

Every import counts, inside functions too, so no circle can hide behind a late import.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Each package and the packages it may import (besides itself), bottom layer first.
LAYERS: dict[str, set[str]] = {
    "core": set(),
    "udfs": {"core"},
    "demo": {"core"},
    "sources": {"core"},
    "formats": {"core"},
    "training": {"core", "udfs", "demo", "sources"},
    "sandbox": {"core"},
    "processes": {"core", "udfs", "sources", "formats", "training", "sandbox"},
    "backend": {"core", "udfs", "demo", "sources", "formats", "training", "sandbox", "processes"},
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


def test_every_package_imports_only_the_layers_below_it():
    wrong = []
    for package, allowed in LAYERS.items():
        for path in sorted((REPO / package).rglob("*.py")):
            for target in _imports(path) - allowed - {package}:
                wrong.append(f"{path.relative_to(REPO)} imports {target}")
    assert wrong == []


def test_the_layers_have_no_circle():
    order = list(LAYERS)
    for package, allowed in LAYERS.items():
        assert all(order.index(a) < order.index(package) for a in allowed), package
