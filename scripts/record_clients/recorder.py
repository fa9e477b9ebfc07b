"""Recording upstream for real coding clients (developer tool, not run in CI).

Listens on 127.0.0.1, speaks Anthropic Messages, OpenAI Responses (SSE and WebSocket mode), OpenAI Chat and
Gemini generateContent, answers with scripted per-turn replies so a client runs a tool loop, and writes every
exchange (request verbatim, secrets redacted, plus what it answered) to a JSON transcript.

    python recorder.py --port 8765 --out fixture.json --client claude-code --version 2.1.197 --scenario tool_loop

The reply is chosen from the request itself, never from a counter, so side requests (title generation, quota
probes, next-speaker checks) do not shift the script:

- the conversation already holds a tool result            -> final text (turn 2)
- a hosted search sub-request (Anthropic web_search tool,
  Gemini googleSearch tool)                               -> search blocks / grounded text
- the request asks for JSON (Gemini responseJsonSchema)   -> a minimal instance of the schema
- otherwise, by scenario: plain -> text; tool_loop -> a call of the client's shell tool; thinking -> a thinking
  block / reasoning item / thought part, then the shell call; web_search -> the client's search tool (or, for
  Codex, a web_search_call item plus a shell call); server_tool_replay -> Anthropic server_tool_use and
  web_search_tool_result blocks plus a Bash call; apply_patch -> Codex's apply_patch custom tool call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

SECRET_HEADERS = {
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "cookie",
    "proxy-authorization",
    "chatgpt-account-id",
}
SECRET_QUERY = {"key", "api_key"}
CAP = 20_000

SCENARIO = "plain"
TRANSCRIPT: dict[str, Any] = {}
OUT = ""

FINAL_TEXT = "The command printed hi. Done."
PLAIN_TEXT = "Hello from the recording upstream."
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello from apply_patch\n*** End Patch\n"
THINKING = "The user wants me to run a command. I will call the shell tool with echo hi."
SEARCH_QUERY = "asgi gateway rotating credentials"
SEARCH_URL = "https://example.com/asgi-rotator"
SEARCH_TITLE = "asgi_rotator: an ASGI LLM gateway"


# ---------------------------------------------------------------- recording


def redact_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers:
        k = k.lower()
        if k in SECRET_HEADERS:
            scheme = v.split(" ", 1)[0] if " " in v else ""
            v = f"{scheme} <redacted>" if scheme else "<redacted>"
        out[k] = v if k not in out else out[k] + ", " + v
    return out


def redact_query(qs: str) -> dict[str, str]:
    return {k: ("<redacted>" if k in SECRET_QUERY else v) for k, v in parse_qsl(qs, keep_blank_values=True)}


def cap(value: Any) -> Any:
    if isinstance(value, str) and len(value) > CAP:
        return value[:CAP] + f"...[truncated {len(value) - CAP} chars]"
    if isinstance(value, list):
        return [cap(v) for v in value]
    if isinstance(value, dict):
        return {k: cap(v) for k, v in value.items()}
    return value


def save() -> None:
    with open(OUT, "w") as f:
        json.dump(TRANSCRIPT, f, indent=1, ensure_ascii=False)
        f.write("\n")


def record(exchange: dict[str, Any]) -> None:
    TRANSCRIPT["exchanges"].append(cap(exchange))
    save()
    what = exchange.get("path")
    print(f"[recorder] {exchange['method']} {what} -> {summary(exchange.get('reply'))}", file=sys.stderr, flush=True)


def summary(reply: Any) -> str:
    if isinstance(reply, dict):
        return str(reply.get("summary", reply.get("status", "")))
    if isinstance(reply, list):
        return "; ".join(summary(r) for r in reply)
    return str(reply)


# ---------------------------------------------------------------- helpers


def rid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def sse(event: str | None, data: Any, crlf: bool = False) -> str:
    nl = "\r\n" if crlf else "\n"
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}{nl}" if event else ""
    return f"{head}data: {payload}{nl}{nl}"


async def drip(chunks: list[str]):
    for c in chunks:
        yield c.encode()
        await asyncio.sleep(0.005)


def schema_instance(schema: dict[str, Any]) -> Any:
    """A minimal value of a JSON schema (OpenAPI-style types upper- or lower-case)."""
    t = str(schema.get("type", "object")).lower()
    if "enum" in schema:
        enum = schema["enum"]
        return "user" if "user" in enum else enum[0]
    if t == "object":
        props = schema.get("properties", {})
        return {k: schema_instance(v) for k, v in props.items()}
    if t == "array":
        return []
    if t in ("integer", "number"):
        return 0
    if t == "boolean":
        return False
    return "recorded"


# ---------------------------------------------------------------- Anthropic Messages


def anthropic_blocks(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    msgs = body.get("messages") or []
    tools = body.get("tools") or []
    names = {t.get("name") for t in tools}
    types = {str(t.get("type", "")) for t in tools}
    seen_result = any(
        isinstance(m.get("content"), list) and any(b.get("type") == "tool_result" for b in m["content"]) for m in msgs
    )
    bash = {
        "type": "tool_use",
        "id": rid("toolu_"),
        "name": "Bash",
        "input": {"command": "echo hi", "description": "Print hi"},
    }
    if any(t.startswith("web_search") for t in types):
        return web_search_blocks(), "end_turn"
    fmt = (body.get("output_config") or {}).get("format") or {}
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):  # e.g. the session-title request
        return [{"type": "text", "text": json.dumps(schema_instance(fmt["schema"]))}], "end_turn"
    if seen_result:
        return [{"type": "text", "text": FINAL_TEXT}], "end_turn"
    if SCENARIO == "tool_loop" and "Bash" in names:
        return [{"type": "text", "text": "I'll run it."}, bash], "tool_use"
    if SCENARIO == "read_file" and "Read" in names:
        return [
            {"type": "tool_use", "id": rid("toolu_"), "name": "Read", "input": {"file_path": READ_PATH}}
        ], "tool_use"
    if SCENARIO == "thinking" and "Bash" in names:
        return [
            {"type": "thinking", "thinking": THINKING, "signature": "c2lnbmF0dXJlLXJlY29yZGVk" * 4},
            bash,
        ], "tool_use"
    if SCENARIO == "web_search" and "WebSearch" in names:
        return [
            {"type": "tool_use", "id": rid("toolu_"), "name": "WebSearch", "input": {"query": SEARCH_QUERY}}
        ], "tool_use"
    if SCENARIO == "server_tool_replay" and "Bash" in names:
        return web_search_blocks() + [bash], "tool_use"
    return [{"type": "text", "text": PLAIN_TEXT}], "end_turn"


def web_search_blocks() -> list[dict[str, Any]]:
    stid = rid("srvtoolu_")
    return [
        {"type": "text", "text": "Let me search for that."},
        {"type": "server_tool_use", "id": stid, "name": "web_search", "input": {"query": SEARCH_QUERY}},
        {
            "type": "web_search_tool_result",
            "tool_use_id": stid,
            "content": [
                {
                    "type": "web_search_result",
                    "url": SEARCH_URL,
                    "title": SEARCH_TITLE,
                    "encrypted_content": "RW5jcnlwdGVkUGFnZUNvbnRlbnQ=",
                    "page_age": "2 days ago",
                }
            ],
        },
        {
            "type": "text",
            "text": "asgi_rotator is an ASGI gateway that rotates provider credentials.",
            "citations": [
                {
                    "type": "web_search_result_location",
                    "url": SEARCH_URL,
                    "title": SEARCH_TITLE,
                    "encrypted_index": "RW5jcnlwdGVkSW5kZXg=",
                    "cited_text": "asgi_rotator rotates provider credentials behind four wire protocols.",
                }
            ],
        },
    ]


def anthropic_usage(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    u: dict[str, Any] = {
        "input_tokens": 120,
        "output_tokens": 30,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    if any(b["type"] == "server_tool_use" for b in blocks):
        u["server_tool_use"] = {"web_search_requests": 1}
    return u


def anthropic_reply(body: dict[str, Any]) -> tuple[Response, dict[str, Any]]:
    blocks, stop = anthropic_blocks(body)
    msg = {
        "id": rid("msg_"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude"),
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": anthropic_usage(blocks),
    }
    kinds = [b["type"] for b in blocks]
    if not body.get("stream"):
        return JSONResponse(msg), {"status": 200, "stream": False, "summary": f"json {kinds} {stop}", "body": msg}
    events: list[tuple[str, dict[str, Any]]] = []
    start = dict(msg, content=[], stop_reason=None, usage=dict(msg["usage"], output_tokens=1))
    events.append(("message_start", {"type": "message_start", "message": start}))
    for i, b in enumerate(blocks):
        t = b["type"]
        if t == "text":
            first = {"type": "text", "text": ""}
            if "citations" in b:
                first["citations"] = []
            events.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": first}))
            for c in b.get("citations", []):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "citations_delta", "citation": c},
                        },
                    )
                )
            half = len(b["text"]) // 2
            for part in (b["text"][:half], b["text"][half:]):
                events.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": part}},
                    )
                )
        elif t == "thinking":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    },
                )
            )
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "thinking_delta", "thinking": b["thinking"]},
                    },
                )
            )
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "signature_delta", "signature": b["signature"]},
                    },
                )
            )
        elif t in ("tool_use", "server_tool_use"):
            events.append(
                ("content_block_start", {"type": "content_block_start", "index": i, "content_block": dict(b, input={})})
            )
            raw = json.dumps(b["input"])
            for part in (raw[: len(raw) // 2], raw[len(raw) // 2 :]):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": part},
                        },
                    )
                )
        else:  # web_search_tool_result arrives whole
            events.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": b}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    out_usage = {"output_tokens": msg["usage"]["output_tokens"]}
    if "server_tool_use" in msg["usage"]:
        out_usage["server_tool_use"] = msg["usage"]["server_tool_use"]
    events.append(
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": out_usage},
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    chunks = [sse(e, d) for e, d in events]
    return (
        StreamingResponse(drip(chunks), media_type="text/event-stream"),
        {"status": 200, "stream": True, "summary": f"sse {kinds} {stop}", "events": [d for _, d in events]},
    )


# ---------------------------------------------------------------- OpenAI Responses

SHELL_TOOLS = ("exec_command", "shell_command", "shell", "local_shell")


def responses_tools(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every tool the request offers, by name: top-level `tools`, `additional_tools` input items (Codex's
    responses-lite models put them there), and the members of `namespace` tools (name kept as given)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(tools: list[Any], namespace: str | None) -> None:
        for t in tools or []:
            if not isinstance(t, dict):
                continue
            if t.get("type") == "namespace":
                walk(t.get("tools") or [], t.get("name"))
                continue
            found.setdefault(t.get("name") or t.get("type"), dict(t, _namespace=namespace))

    walk(body.get("tools") or [], None)
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            walk(item.get("tools") or [], None)
    return found


def responses_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("input") or []
    if isinstance(items, str):
        items = []
    by_name = responses_tools(body)
    done = any(isinstance(i, dict) and str(i.get("type", "")).endswith("_output") for i in items)
    msg = lambda text, ann=None: {  # noqa: E731
        "type": "message",
        "id": rid("msg_"),
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": ann or [], "logprobs": []}],
    }
    if done:
        return [msg(FINAL_TEXT)]

    def call(tool: dict[str, Any], payload: Any) -> dict[str, Any]:
        name = tool.get("name")
        if tool.get("type") == "custom":
            out = {
                "type": "custom_tool_call",
                "id": rid("ctc_"),
                "call_id": rid("call_"),
                "name": name,
                "input": payload,
                "status": "completed",
            }
        else:
            out = {
                "type": "function_call",
                "id": rid("fc_"),
                "call_id": rid("call_"),
                "name": name,
                "arguments": payload if isinstance(payload, str) else json.dumps(payload),
                "status": "completed",
            }
        if tool.get("_namespace") and tool["_namespace"] != "functions":
            out["namespace"] = tool["_namespace"]
        return out

    def shell_call() -> dict[str, Any] | None:
        code = by_name.get("exec")
        if code and code.get("type") == "custom":  # code mode: one JavaScript `exec` tool wraps all others
            return call(code, 'const r = await tools.exec_command({cmd: "echo hi"});\ntext(r);\n')
        for name in SHELL_TOOLS:
            t = by_name.get(name)
            if not t:
                continue
            if t.get("type") == "local_shell":
                return {
                    "type": "local_shell_call",
                    "id": rid("lsh_"),
                    "call_id": rid("call_"),
                    "status": "completed",
                    "action": {"type": "exec", "command": ["bash", "-lc", "echo hi"], "env": {}},
                }
            args = {
                "exec_command": {"cmd": "echo hi"},
                "shell_command": {"command": "echo hi"},
                "shell": {"command": ["bash", "-lc", "echo hi"]},
            }[name]
            return call(t, args)
        return None

    if SCENARIO == "tool_loop" and (c := shell_call()):
        return [c]
    if SCENARIO == "thinking" and (c := shell_call()):
        return [
            {
                "type": "reasoning",
                "id": rid("rs_"),
                "summary": [{"type": "summary_text", "text": THINKING}],
                "encrypted_content": "gAAAAABrecordedEncryptedReasoningContent==",
            },
            c,
        ]
    if SCENARIO == "web_search" and (c := shell_call()):
        ann = [{"type": "url_citation", "start_index": 0, "end_index": 12, "url": SEARCH_URL, "title": SEARCH_TITLE}]
        return [
            {
                "type": "web_search_call",
                "id": rid("ws_"),
                "status": "completed",
                "action": {"type": "search", "query": SEARCH_QUERY, "sources": [{"type": "url", "url": SEARCH_URL}]},
            },
            msg("asgi_rotator rotates provider credentials.", ann),
            c,
        ]
    if SCENARIO == "apply_patch":
        if t := by_name.get("apply_patch"):
            return [call(t, PATCH if t.get("type") == "custom" else {"input": PATCH})]
        if (code := by_name.get("exec")) and code.get("type") == "custom":
            return [call(code, f"const r = await tools.apply_patch({json.dumps(PATCH)});\ntext(r);\n")]
    return [msg(PLAIN_TEXT)]


def responses_events(body: dict[str, Any], generate: bool = True) -> list[dict[str, Any]]:
    items = responses_items(body) if generate else []
    resp = {
        "id": rid("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": body.get("model", "gpt"),
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": [],
        "store": body.get("store", False),
        "reasoning": body.get("reasoning"),
        "usage": None,
        "error": None,
        "incomplete_details": None,
        "previous_response_id": body.get("previous_response_id"),
    }
    ev: list[dict[str, Any]] = [
        {"type": "response.created", "response": resp},
        {"type": "response.in_progress", "response": resp},
    ]
    for idx, it in enumerate(items):
        t = it["type"]
        base = {"output_index": idx, "item_id": it["id"]}
        if t == "message":
            ev.append(
                {
                    "type": "response.output_item.added",
                    "output_index": idx,
                    "item": dict(it, status="in_progress", content=[]),
                }
            )
            part = it["content"][0]
            ev.append(
                dict(
                    base, type="response.content_part.added", content_index=0, part=dict(part, text="", annotations=[])
                )
            )
            for d in (part["text"][: len(part["text"]) // 2], part["text"][len(part["text"]) // 2 :]):
                ev.append(dict(base, type="response.output_text.delta", content_index=0, delta=d, logprobs=[]))
            for ai, a in enumerate(part["annotations"]):
                ev.append(
                    dict(
                        base,
                        type="response.output_text.annotation.added",
                        content_index=0,
                        annotation_index=ai,
                        annotation=a,
                    )
                )
            ev.append(dict(base, type="response.output_text.done", content_index=0, text=part["text"], logprobs=[]))
            ev.append(dict(base, type="response.content_part.done", content_index=0, part=part))
        elif t == "reasoning":
            ev.append({"type": "response.output_item.added", "output_index": idx, "item": dict(it, summary=[])})
            s = it["summary"][0]
            ev.append(
                dict(
                    base,
                    type="response.reasoning_summary_part.added",
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            )
            ev.append(dict(base, type="response.reasoning_summary_text.delta", summary_index=0, delta=s["text"]))
            ev.append(dict(base, type="response.reasoning_summary_text.done", summary_index=0, text=s["text"]))
            ev.append(dict(base, type="response.reasoning_summary_part.done", summary_index=0, part=s))
        elif t == "function_call":
            ev.append(
                {
                    "type": "response.output_item.added",
                    "output_index": idx,
                    "item": dict(it, arguments="", status="in_progress"),
                }
            )
            ev.append(dict(base, type="response.function_call_arguments.delta", delta=it["arguments"]))
            ev.append(dict(base, type="response.function_call_arguments.done", arguments=it["arguments"]))
        elif t == "custom_tool_call":
            ev.append(
                {
                    "type": "response.output_item.added",
                    "output_index": idx,
                    "item": dict(it, input="", status="in_progress"),
                }
            )
            ev.append(dict(base, type="response.custom_tool_call_input.delta", delta=it["input"]))
            ev.append(dict(base, type="response.custom_tool_call_input.done", input=it["input"]))
        elif t == "web_search_call":
            ev.append(
                {
                    "type": "response.output_item.added",
                    "output_index": idx,
                    "item": {"type": "web_search_call", "id": it["id"], "status": "in_progress"},
                }
            )
            for phase in ("in_progress", "searching", "completed"):
                ev.append(dict(base, type=f"response.web_search_call.{phase}"))
        else:
            ev.append({"type": "response.output_item.added", "output_index": idx, "item": it})
        ev.append({"type": "response.output_item.done", "output_index": idx, "item": it})
    final = dict(
        resp,
        status="completed",
        output=items,
        usage={
            "input_tokens": 200,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 40 if generate else 0,
            "output_tokens_details": {"reasoning_tokens": 12 if any(i["type"] == "reasoning" for i in items) else 0},
            "total_tokens": 240 if generate else 200,
        },
    )
    ev.append({"type": "response.completed", "response": final})
    for n, e in enumerate(ev):
        e["sequence_number"] = n
    return ev


def responses_reply(body: dict[str, Any]) -> tuple[Response, dict[str, Any]]:
    ev = responses_events(body)
    final = ev[-1]["response"]
    kinds = [i["type"] for i in final["output"]]
    if not body.get("stream"):
        return JSONResponse(final), {"status": 200, "stream": False, "summary": f"json {kinds}", "body": final}
    chunks = [sse(e["type"], e) for e in ev]
    return (
        StreamingResponse(drip(chunks), media_type="text/event-stream"),
        {"status": 200, "stream": True, "summary": f"sse {kinds}", "events": ev},
    )


async def responses_ws(ws: WebSocket) -> None:
    await ws.accept()
    exchange = {
        "method": "WEBSOCKET",
        "path": ws.url.path,
        "query": redact_query(ws.url.query),
        "headers": redact_headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in ws.scope["headers"]]),
        "ws_messages": [],
        "reply": [],
    }
    TRANSCRIPT["exchanges"].append(exchange)
    try:
        while True:
            raw = await ws.receive_text()
            try:
                msg = json.loads(raw)
            except ValueError:
                msg = raw
            exchange["ws_messages"].append(cap(msg))
            if isinstance(msg, dict) and msg.get("type") == "response.create":
                body = msg.get("response", msg) if isinstance(msg.get("response"), dict) else msg
                generate = body.get("generate", True) is not False
                ev = responses_events(body, generate=generate)
                for e in ev:
                    await ws.send_text(json.dumps(e))
                    await asyncio.sleep(0.002)
                kinds = [i["type"] for i in ev[-1]["response"]["output"]]
                exchange["reply"].append(
                    {
                        "to_message": len(exchange["ws_messages"]) - 1,
                        "generate": generate,
                        "summary": f"ws {kinds}" if generate else "ws warm-up (empty completed)",
                        "events": ev,
                    }
                )
            else:
                exchange["reply"].append({"to_message": len(exchange["ws_messages"]) - 1, "summary": "no answer"})
            save()
            print(
                f"[recorder] WS message {msg.get('type') if isinstance(msg, dict) else '?'} -> "
                f"{exchange['reply'][-1]['summary']}",
                file=sys.stderr,
                flush=True,
            )
    except WebSocketDisconnect:
        save()


# ---------------------------------------------------------------- OpenAI Chat


def chat_reply(body: dict[str, Any]) -> tuple[Response, dict[str, Any]]:
    msgs = body.get("messages") or []
    tools = body.get("tools") or []
    done = any(m.get("role") == "tool" for m in msgs)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish = "stop"
    if not done and tools and SCENARIO != "plain":
        fn = tools[0].get("function", {}).get("name", "tool")
        message["tool_calls"] = [
            {
                "id": rid("call_"),
                "type": "function",
                "function": {"name": fn, "arguments": json.dumps({"command": "echo hi"})},
            }
        ]
        finish = "tool_calls"
    else:
        message["content"] = FINAL_TEXT if done else PLAIN_TEXT
    cid, created, model = rid("chatcmpl-"), int(time.time()), body.get("model", "gpt")
    usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    full = {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage,
    }
    if not body.get("stream"):
        return JSONResponse(full), {"status": 200, "stream": False, "summary": f"json {finish}", "body": full}
    base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
    chunks = [dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    if message.get("tool_calls"):
        tc = message["tool_calls"][0]
        chunks.append(
            dict(base, choices=[{"index": 0, "delta": {"tool_calls": [dict(tc, index=0)]}, "finish_reason": None}])
        )
    else:
        chunks.append(
            dict(base, choices=[{"index": 0, "delta": {"content": message["content"]}, "finish_reason": None}])
        )
    chunks.append(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": finish}]))
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append(dict(base, choices=[], usage=usage))
    lines = [sse(None, c) for c in chunks] + [sse(None, "[DONE]")]
    return (
        StreamingResponse(drip(lines), media_type="text/event-stream"),
        {"status": 200, "stream": True, "summary": f"sse {finish}", "events": chunks + ["[DONE]"]},
    )


# ---------------------------------------------------------------- Gemini


def gemini_parts(body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    contents = body.get("contents") or []
    tools = body.get("tools") or []
    gen = body.get("generationConfig") or {}
    decls = {d.get("name") for t in tools for d in (t.get("functionDeclarations") or [])}
    last = contents[-1] if contents else {}
    last_parts = last.get("parts") or []
    if any("googleSearch" in t or "google_search" in t for t in tools):
        grounding = {
            "webSearchQueries": [SEARCH_QUERY],
            "searchEntryPoint": {"renderedContent": "<div>search</div>"},
            "groundingChunks": [{"web": {"uri": SEARCH_URL, "title": SEARCH_TITLE}}],
            "groundingSupports": [
                {
                    "segment": {"startIndex": 0, "endIndex": 41, "text": "asgi_rotator rotates provider credentials."},
                    "groundingChunkIndices": [0],
                    "confidenceScores": [0.9],
                }
            ],
        }
        return [{"text": "asgi_rotator rotates provider credentials."}], grounding
    schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
    if gen.get("responseMimeType") == "application/json" and schema:
        return [{"text": json.dumps(schema_instance(schema))}], None
    if any("functionResponse" in p for p in last_parts):
        return [{"text": FINAL_TEXT}], None
    shell = "run_shell_command" if "run_shell_command" in decls else None
    if SCENARIO == "tool_loop" and shell:
        return [{"functionCall": {"name": shell, "args": {"command": "echo hi", "description": "Print hi"}}}], None
    if SCENARIO == "read_file" and "read_file" in decls:
        return [
            {"functionCall": {"name": "read_file", "args": {"absolute_path": READ_PATH, "file_path": READ_PATH}}}
        ], None
    if SCENARIO == "thinking" and shell:
        return [
            {"text": THINKING, "thought": True},
            {
                "functionCall": {"name": shell, "args": {"command": "echo hi", "description": "Print hi"}},
                "thoughtSignature": "c2lnbmF0dXJlLXJlY29yZGVk",
            },
        ], None
    if SCENARIO == "web_search" and "google_web_search" in decls:
        return [{"functionCall": {"name": "google_web_search", "args": {"query": SEARCH_QUERY}}}], None
    return [{"text": PLAIN_TEXT}], None


def gemini_reply(body: dict[str, Any], model: str, stream: bool) -> tuple[Response, dict[str, Any]]:
    parts, grounding = gemini_parts(body)
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
    if grounding:
        cand["groundingMetadata"] = grounding
    thoughts = sum(1 for p in parts if p.get("thought"))
    usage = {
        "promptTokenCount": 150,
        "candidatesTokenCount": 25,
        "totalTokenCount": 175 + 10 * thoughts,
        **({"thoughtsTokenCount": 10 * thoughts} if thoughts else {}),
    }
    full = {"candidates": [cand], "usageMetadata": usage, "modelVersion": model, "responseId": rid("")}
    kinds = [
        next(iter(k for k in p if k not in ("thoughtSignature",))) + ("(thought)" if p.get("thought") else "")
        for p in parts
    ]
    if not stream:
        return JSONResponse(full), {"status": 200, "stream": False, "summary": f"json {kinds}", "body": full}
    chunks = []
    for i, p in enumerate(parts):
        c = {"content": {"role": "model", "parts": [p]}, "index": 0}
        last = i == len(parts) - 1
        if last:
            c["finishReason"] = "STOP"
            if grounding:
                c["groundingMetadata"] = grounding
        chunks.append(
            {
                "candidates": [c],
                "usageMetadata": usage if last else {"promptTokenCount": 150},
                "modelVersion": model,
                "responseId": full["responseId"],
            }
        )
    return (
        StreamingResponse(drip([sse(None, c, crlf=True) for c in chunks]), media_type="text/event-stream"),
        {"status": 200, "stream": True, "summary": f"sse {kinds}", "events": chunks},
    )


# ---------------------------------------------------------------- dispatch


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    req = Request(scope, receive)
    raw = await req.body()
    path = req.url.path
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    exchange: dict[str, Any] = {
        "method": req.method,
        "path": path,
        "query": redact_query(req.url.query),
        "headers": redact_headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]),
        "body": body,
    }
    b = body if isinstance(body, dict) else {}
    resp: Response
    if req.method in ("HEAD", "GET") and path in ("/", ""):
        resp, reply = Response(status_code=200), {"status": 200, "summary": "root probe"}
    elif req.method == "POST" and path.endswith("/messages/count_tokens"):
        resp, reply = (
            JSONResponse({"input_tokens": 1234}),
            {"status": 200, "summary": "count_tokens", "body": {"input_tokens": 1234}},
        )
    elif req.method == "POST" and path.endswith("/messages"):
        resp, reply = anthropic_reply(b)
    elif req.method == "POST" and path.endswith("/responses"):
        resp, reply = responses_reply(b)
    elif req.method == "POST" and path.endswith("/chat/completions"):
        resp, reply = chat_reply(b)
    elif req.method == "POST" and ":" in path.rsplit("/", 1)[-1]:
        model, _, verb = path.rsplit("/", 1)[-1].partition(":")
        if verb == "countTokens":
            resp, reply = (
                JSONResponse({"totalTokens": 1234}),
                {"status": 200, "summary": "countTokens", "body": {"totalTokens": 1234}},
            )
        elif verb == "embedContent":
            out = {"embedding": {"values": [0.0] * 8}}
            resp, reply = JSONResponse(out), {"status": 200, "summary": "embedContent", "body": out}
        else:
            resp, reply = gemini_reply(b, model, stream=verb == "streamGenerateContent")
    else:
        err = {"error": {"type": "not_found_error", "code": 404, "message": f"recorder: no route {req.method} {path}"}}
        resp, reply = JSONResponse(err, status_code=404), {"status": 404, "summary": "404", "body": err}
    record(dict(exchange, reply=reply))
    await resp(scope, receive, send)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await http_app(scope, receive, send)
    elif scope["type"] == "websocket":
        await responses_ws(WebSocket(scope, receive, send))
    elif scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


READ_PATH = "/tmp/record_clients/notes.txt"


def main() -> None:
    global SCENARIO, OUT, READ_PATH
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--out", required=True)
    p.add_argument("--client", required=True)
    p.add_argument("--version", default="")
    p.add_argument("--scenario", default="plain", help="the fixture's scenario name")
    p.add_argument("--script", default=None, help="which reply script to use (default: the scenario name)")
    p.add_argument("--recorded", default=time.strftime("%Y-%m-%d"))
    p.add_argument("--read-path", default=READ_PATH)
    a = p.parse_args()
    SCENARIO, OUT, READ_PATH = a.script or a.scenario, a.out, a.read_path
    TRANSCRIPT.update(
        {"client": a.client, "version": a.version, "recorded": a.recorded, "scenario": a.scenario, "exchanges": []}
    )
    save()
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning", ws="websockets-sansio")


if __name__ == "__main__":
    main()
