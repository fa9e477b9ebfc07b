"""Generate the preset table of docs/providers.md from the presets themselves.

    python -m asgi_rotator.catalogue.table

prints the table; docs/providers.md holds it between the ``presets:start`` and ``presets:end`` markers, and a
test compares the two, so the documented presets cannot drift from the code.
"""

from __future__ import annotations

from typing import Any

from .merge import all_presets
from .presets import NOTES

START, END = "<!-- presets:start -->", "<!-- presets:end -->"
_DEFAULT_AUTH = {"openai_chat": "bearer", "openai_responses": "bearer", "anthropic_messages": "x-api-key"}


def _auth(fields: dict[str, Any]) -> str:
    auth = fields.get("auth") or _DEFAULT_AUTH.get(fields.get("protocol", ""), "x-goog-api-key")
    return f"header `{fields['auth_header']}`" if auth == "custom" else str(auth)


def _adapter(entry: str | dict[str, Any]) -> str:
    if isinstance(entry, str):
        return entry
    config = entry.get("config") or {}
    detail = ", ".join(config.get("params", [])) or ", ".join(
        f"{rule['source_path']}→{rule['target_path']}" for rule in config.get("rules", [])
    )
    detail = detail or ", ".join(f"{k}: {v}" for k, v in config.items())
    only = f" (only {', '.join(entry['models'])})" if entry.get("models") else ""
    return f"{entry['name']}" + (f" [{detail}]" if detail else "") + only


def render() -> str:
    """The preset table as Markdown, between its markers."""
    lines = [
        START,
        "| Preset | Protocol | Base URL | Auth | Headers, query | Adapters | Notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, fields in all_presets().items():
        extras = {**fields.get("headers", {}), **fields.get("query", {})}
        cells = [
            f"`{name}`",
            f"`{fields.get('protocol', '')}`",
            f"`{fields.get('base_url', '')}`",
            _auth(fields),
            ", ".join(f"`{k}: {v}`" for k, v in extras.items()),
            "; ".join(_adapter(a) for a in fields.get("adapters", [])),
            NOTES.get(name, "") + ("" if fields.get("discover", True) else " Discovery off."),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|").strip() for c in cells) + " |")
    lines.append(END)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
