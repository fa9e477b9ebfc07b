"""Print what each recorded transcript holds: per exchange the route, model, top-level request fields, and the
content-block / input-item / part types the client sent (developer tool)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def kinds(body: dict) -> list[str]:
    out: list[str] = []
    for m in body.get("messages") or []:  # Anthropic / Chat
        c = m.get("content")
        if isinstance(c, list):
            out += [f"{m.get('role')}:{b.get('type')}" for b in c]
        else:
            out.append(f"{m.get('role')}:str")
    inp = body.get("input")
    if isinstance(inp, list):  # Responses
        for i in inp:
            t = i.get("type", "message")
            out.append(f"{t}:{i['role']}" if t == "message" else t)
    for c in body.get("contents") or []:  # Gemini
        for p in c.get("parts") or []:
            keys = [k for k in p if k not in ("thoughtSignature",)]
            out.append(f"{c.get('role')}:{'+'.join(keys)}" + ("+sig" if "thoughtSignature" in p else ""))
    seen: list[str] = []
    for k in out:
        if k not in seen:
            seen.append(k)
    return seen


def tool_kinds(body: dict) -> list[str]:
    out = []
    for t in body.get("tools") or []:
        if "functionDeclarations" in t:
            out.append(f"functionDeclarations[{len(t['functionDeclarations'])}]")
        elif t.get("type") in (None, "function", "custom") and "name" in t and "input_schema" in t:
            continue  # Anthropic client tools: counted below
        else:
            out.append(str(t.get("type") or next(iter(t))))
    for i in body.get("input") or []:
        if isinstance(i, dict) and i.get("type") == "additional_tools":
            for t in i.get("tools") or []:
                inner = [f"{x.get('type')}:{x.get('name')}" for x in t.get("tools") or []]
                out.append(
                    f"additional_tools/{t.get('type')}:{t.get('name')}" + (f"[{' '.join(inner)}]" if inner else "")
                )
    client = sum(1 for t in body.get("tools") or [] if "input_schema" in t)
    return ([f"client_tools[{client}]"] if client else []) + sorted(set(out))


def main(paths: list[str]) -> None:
    files = [p for a in paths for p in (sorted(Path(a).rglob("*.json")) if Path(a).is_dir() else [Path(a)])]
    for f in files:
        t = json.loads(f.read_text())
        print(f"== {f.parent.name}/{f.name}  {t['client']} {t['version']}  scenario={t['scenario']}")
        for e in t["exchanges"]:
            bodies = e.get("ws_messages") or ([e["body"]] if isinstance(e.get("body"), dict) else [None])
            for n, b in enumerate(bodies):
                replies = e["reply"] if isinstance(e["reply"], list) else [e["reply"]]
                r = replies[n] if n < len(replies) else {}
                head = f"  {e['method']} {e['path']}" + (
                    f"?{'&'.join(f'{k}={v}' for k, v in e['query'].items())}" if e.get("query") else ""
                )
                if not isinstance(b, dict):
                    print(f"{head} -> {r.get('summary')}")
                    continue
                print(f"{head} model={b.get('model')} -> {r.get('summary')}")
                print(f"      fields: {', '.join(b)}")
                print(f"      tools: {', '.join(tool_kinds(b))}")
                print(f"      items: {', '.join(kinds(b))}")


if __name__ == "__main__":
    main(sys.argv[1:] or [str(Path(__file__).resolve().parents[2] / "tests/fixtures/clients")])
