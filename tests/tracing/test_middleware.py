"""TracingMiddleware around tiny raw ASGI apps: request ids, client-side passes, and no secret on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from asgi_rotator.config.models import TraceConfig
from asgi_rotator.http.asgi import read_body
from asgi_rotator.tracing import REDACTED, TraceWriter, TracingMiddleware, current_trace

SECRET = "sk-proj-secretvalue-0123456789"
PROXY_KEY = "proxy-client-key-abcdef"


async def json_app(scope: Any, receive: Any, send: Any) -> None:
    body = await read_body(receive, limit=1 << 30)
    request = json.loads(body)
    trace = current_trace(scope)
    if trace is not None:
        trace.record("parsed_unified_request", {"model": request["model"]})
    reply = {"id": "chatcmpl-1", "echo": request["messages"][0]["content"], "seen_id": scope["asgi_rotator.request_id"]}
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"app-set")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(reply).encode()})


async def sse_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    for i in range(3):
        await send({"type": "http.response.body", "body": f"data: {i}\n\n".encode(), "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


async def failing_app(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError(f"upstream said no to {SECRET}")


def make_writer(tmp_path: Path, **options: Any) -> TraceWriter:
    config = TraceConfig(enabled=True, dir=str(tmp_path), **options)
    return TraceWriter(config, secrets=[SECRET, PROXY_KEY])


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_json_exchange_is_traced_under_a_minted_id(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    app = TracingMiddleware(json_app, writer=writer)
    payload = {"model": "openai/gpt", "messages": [{"role": "user", "content": f"my key is {SECRET}"}]}
    async with client(app) as http:
        response = await http.post(
            f"/v1/chat/completions?key={PROXY_KEY}&x=1",
            json=payload,
            headers={"x-request-id": "client-id-1", "authorization": f"Bearer {PROXY_KEY}"},
        )
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert response.headers.get_list("x-request-id") == [request_id] and request_id != "client-id-1"
    assert response.json()["seen_id"] == request_id

    entries = await writer.read(request_id)
    assert entries is not None
    assert entries[0]["pass_name"] == "client_request_id" and entries[0]["data"] == {"x-request-id": "client-id-1"}
    entries = entries[1:]
    assert [e["pass_name"] for e in entries] == [
        "raw_client_request",
        "parsed_unified_request",
        "final_client_response",
    ]
    request, _, final = entries
    assert request["data"]["method"] == "POST" and request["data"]["path"] == "/v1/chat/completions"
    assert request["data"]["query"] == {"key": REDACTED, "x": "1"}
    assert request["data"]["headers"]["authorization"] == REDACTED
    assert request["data"]["body"]["messages"][0]["content"] == f"my key is {REDACTED}"
    assert final["direction"] == "response" and final["data"]["status"] == 200
    assert final["data"]["headers"]["x-request-id"] == request_id
    assert final["data"]["body"]["echo"] == f"my key is {REDACTED}"
    text = (tmp_path / f"{request_id}.jsonl").read_text()
    assert SECRET not in text and PROXY_KEY not in text


async def test_sse_chunks_are_recorded_as_stream_events(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    async with client(TracingMiddleware(sse_app, writer=writer)) as http:
        response = await http.get("/stream")
    assert response.text == "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 24 and int(request_id, 16) >= 0

    entries = await writer.read(request_id)
    assert entries is not None
    names = [e["pass_name"] for e in entries]
    assert names == ["raw_client_request"] + ["formatted_client_stream_event"] * 4 + ["final_client_response"]
    assert [e["data"] for e in entries[1:5]] == [[{"data": n}] for n in ("0", "1", "2", "[DONE]")]
    assert all(e["direction"] == "stream" for e in entries[1:5])
    assert entries[-1]["data"]["stream"] == {"chunks": 4, "bytes": len(response.content)}
    assert "body" not in entries[-1]["data"]


async def test_a_client_id_never_names_a_trace(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    async with client(TracingMiddleware(sse_app, writer=writer)) as http:
        response = await http.get("/", headers={"x-request-id": "../../etc/passwd"})
    minted = response.headers["x-request-id"]
    assert minted != "../../etc/passwd" and len(minted) == 24
    assert [p.name for p in tmp_path.iterdir()] == [f"{minted}.jsonl"]


async def test_with_tracing_off_only_the_request_id_is_handled(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["trace"] = current_trace(scope)
        await sse_app(scope, receive, send)

    middleware = TracingMiddleware(app, config=TraceConfig(enabled=False, dir=str(tmp_path)))
    async with client(middleware) as http:
        response = await http.get("/", headers={"X-Request-ID": "abc"})
    assert len(response.headers["x-request-id"]) == 24
    assert seen["trace"] is None
    assert list(tmp_path.iterdir()) == []


async def test_an_app_error_is_traced_naming_the_pass_and_re_raised(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    async with client(TracingMiddleware(failing_app, writer=writer)) as http:
        with pytest.raises(RuntimeError):
            await http.get("/")
    (trace_file,) = tmp_path.iterdir()
    entries = await writer.read(trace_file.stem)
    assert entries is not None
    assert [e["pass_name"] for e in entries] == ["raw_client_request", "transform_log_error"]
    assert entries[1]["data"]["failed_pass"] == "final_client_response"
    assert SECRET not in trace_file.read_text()


async def test_nested_middleware_trace_once(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    app = TracingMiddleware(TracingMiddleware(sse_app, writer=writer), writer=writer)
    async with client(app) as http:
        response = await http.get("/")
    (request_id,) = response.headers.get_list("x-request-id")
    entries = await writer.read(request_id)
    assert entries is not None
    assert [e["pass_name"] for e in entries].count("raw_client_request") == 1


async def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await TracingMiddleware(app)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]
