"""mkdocs hook: tables made from the code at build time, so the docs cannot drift from it.

`<!-- settings-table -->` becomes the table of every setting (core.settings.Settings) and
`<!-- parameters: PROCESS_ID -->` the parameter table of one of our processes (specs/).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.settings import documented  # noqa: E402


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [
        f"| `{name}` | {_cell(default) or ' '} | {_cell(doc)} |"
        for name, default, doc in documented()
    ]
    return "\n".join(rows)


def _types(schema: Any) -> str:
    schemas = schema if isinstance(schema, list) else [schema]
    names = []
    for s in schemas:
        kind = s.get("subtype") or s.get("type") or "any"
        names.append("/".join(kind) if isinstance(kind, list) else kind)
    return ", ".join(dict.fromkeys(names))


def parameters_table(process_id: str) -> str:
    spec = json.loads((REPO / "specs" / f"{process_id}.json").read_text())
    rows = ["| parameter | type | default | description |", "|---|---|---|---|"]
    for p in spec["parameters"]:
        default = (
            json.dumps(p["default"])
            if "default" in p
            else ("" if p.get("optional") else "required")
        )
        rows.append(
            f"| `{p['name']}` | {_cell(_types(p['schema']))} | {_cell(default)} | "
            f"{_cell(p['description'])} |"
        )
    rows.append(f"\nReturns: {_cell(spec['returns']['description'])}")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **_: Any) -> str:
    markdown = markdown.replace("<!-- settings-table -->", settings_table())
    return re.sub(r"<!-- parameters: (\w+) -->", lambda m: parameters_table(m.group(1)), markdown)
