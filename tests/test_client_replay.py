"""Real client transcripts replayed through the gateway to a provider of the client's own protocol.

The request bodies (and Codex's WebSocket message sequence) are what Claude Code 2.1.197, Codex 0.171.0 and
Gemini CLI 0.61.0 sent (``tests/fixtures/clients``, see ``scripts/record_clients/README.md``). Each must be
accepted, reach the upstream with the client's blocks and items intact, and come back in a form the client's
own SDK types parse.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from anthropic.types import RawMessageStreamEvent
from google.genai import types as gtypes
from openai.types.responses import ResponseStreamEvent

from asgi_rotator import RotatorASGI
from asgi_rotator.http.asgi import read_body
from asgi_rotator.types import Receive, Scope, Send

from .conftest import PROXY_KEY
from .golden import GoldenUpstream

CLIENTS = Path(__file__).resolve().parent / "fixtures" / "clients"
#: Responses input items the gateway models (and re-writes without their ids); every other item passes verbatim.
MODELLED_ITEMS = ("message", "function_call", "function_call_output", "reasoning", None)
BASES = {"openai_responses": "http://up/v1", "anthropic_messages": "http://up", "gemini": "http://up"}


def transcript(name: str) -> list[dict[str, Any]]:
    """The exchanges of one recorded client scenario (``client/scenario``), HTTP generations only."""
    exchanges: list[dict[str, Any]] = json.loads((CLIENTS / f"{name}.json").read_text())["exchanges"]
    return [e for e in exchanges if e["method"] in ("POST", "WEBSOCKET")]


class RecordedUpstream:
    """An ASGI upstream that answers with the events a client's recorder answered (as SSE, in order), and
    keeps the JSON body of every request it got."""

    def __init__(self, *answers: list[dict[str, Any]] | dict[str, Any]) -> None:
        self.answers = deque(answers)
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive, limit=1 << 30)
        self.requests.append(json.loads(body))
        answer = self.answers.popleft()
        if isinstance(answer, dict):  # a JSON reply
            content, kind = json.dumps(answer).encode(), b"application/json"
        else:
            content, kind = "".join(_sse(event) for event in answer).encode(), b"text/event-stream"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]})
        await send({"type": "http.response.body", "body": content})


def _sse(event: dict[str, Any]) -> str:
    named = f"event: {event['type']}\n" if "type" in event else ""
    return f"{named}data: {json.dumps(event)}\n\n"


def mounted(protocol: str, upstream: Any) -> RotatorASGI:
    providers = {"up": {"protocol": protocol, "base_url": BASES[protocol], "credentials": ["sk-replay-1111"]}}
    config = {"providers": providers, "auth": {"api_keys": [PROXY_KEY]}}
    return RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=upstream))


def replayable(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the client sent it, its bare model name addressed to the one provider."""
    return {**body, "model": f"up/{body['model']}"}


async def test_claude_code_server_tool_replay_reaches_anthropic_intact() -> None:
    """Claude Code's second turn after a web search replays server_tool_use, web_search_tool_result and cited
    text; the anthropic SDK parses the streamed answer."""
    exchange = transcript("claude-code/server_tool_replay")[-1]
    upstream = GoldenUpstream("anthropic_messages/stream_web_search")
    gateway = mounted("anthropic_messages", upstream)
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    try:
        async with anthropic.AsyncAnthropic(base_url="http://gw", api_key=PROXY_KEY, http_client=http) as client:
            stream = await client.post(
                "/v1/messages?beta=true",
                body=replayable(exchange["body"]),
                cast_to=anthropic.types.Message,
                stream=True,
                stream_cls=anthropic.AsyncStream[RawMessageStreamEvent],
            )
            events = [event async for event in stream]
    finally:
        await gateway.shutdown()
    sent = upstream.requests[0]["body"]["messages"]
    replayed = [m for m in exchange["body"]["messages"] if m["role"] == "assistant"][-1]["content"]
    assert [m for m in sent if m["role"] == "assistant"][-1]["content"] == replayed
    assert {"server_tool_use", "web_search_tool_result"} <= {b["type"] for b in replayed}
    assert events[0].type == "message_start" and events[-1].type == "message_stop"


@pytest.mark.parametrize("scenario", ["codex/classic_apply_patch", "codex/apply_patch", "codex/classic_web_search"])
async def test_codex_replayed_items_reach_responses_intact(scenario: str) -> None:
    """Codex's second turn replays custom_tool_call / custom_tool_call_output / web_search_call / additional_tools
    items and custom, namespace and tool_search tools; all reach a Responses upstream in order, unchanged."""
    exchange = transcript(scenario)[-1]
    upstream = RecordedUpstream(exchange["reply"]["events"])
    gateway = mounted("openai_responses", upstream)
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    try:
        async with openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http) as client:
            stream = await client.post(
                "/responses",
                body=replayable(exchange["body"]),
                cast_to=openai.types.responses.Response,
                stream=True,
                stream_cls=openai.AsyncStream[ResponseStreamEvent],
            )
            events = [event async for event in stream]
    finally:
        await gateway.shutdown()
    body = exchange["body"]
    sent = upstream.requests[0]
    unmodelled = [i for i in body["input"] if i.get("type") not in MODELLED_ITEMS]
    assert unmodelled and [i for i in sent["input"] if i in unmodelled] == unmodelled
    assert sent.get("tools") == body.get("tools")
    assert events[-1].type == "response.completed"


def _content_types(contents: list[dict[str, Any]]) -> list[list[str]]:
    return [sorted(k for p in c["parts"] for k in p if k != "thoughtSignature") for c in contents]


@pytest.mark.parametrize("scenario", ["gemini-cli/tool_loop", "gemini-cli/thinking"])
async def test_gemini_cli_turns_reach_gemini_intact(scenario: str) -> None:
    """Gemini CLI's tool loop (functionCall with thoughtSignature, functionResponse) reaches Gemini part for part;
    google-genai's types parse the streamed answer."""
    exchange = transcript(scenario)[-1]
    upstream = GoldenUpstream("gemini/stream_thought_signature")
    gateway = mounted("gemini", upstream)
    model = exchange["path"].rsplit("/", 1)[1].split(":")[0]
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway), base_url="http://gw") as http:
            answer = await http.post(
                f"/v1beta/models/up/{model}:streamGenerateContent?alt=sse",
                json=exchange["body"],
                headers={"x-goog-api-key": PROXY_KEY},
            )
    finally:
        await gateway.shutdown()
    assert answer.status_code == 200
    chunks = [line[6:] for line in answer.text.splitlines() if line.startswith("data: ")]
    parsed = [gtypes.GenerateContentResponse.model_validate_json(chunk) for chunk in chunks]
    assert parsed and any(c.candidates for c in parsed)
    sent = upstream.requests[0]["body"]["contents"]
    assert _content_types(sent) == _content_types(exchange["body"]["contents"])


def test_codex_websocket_turns_warm_up_locally_continue_and_are_traced(gateway, trace_dir) -> None:
    """Codex over WebSocket: the ``generate: false`` warm-up is answered by the gateway (no upstream call), the
    turn that continues it sends its items, the tool turn continues with only the custom_tool_call_output, and
    every turn writes a trace."""
    exchange = transcript("codex/websocket_tool_loop")[0]
    messages = exchange["ws_messages"]
    upstream = RecordedUpstream(*(reply["events"] for reply in exchange["reply"] if reply["generate"] is not False))
    base = gateway(
        {"providers": {"up": {"protocol": "openai_responses", "base_url": "http://up/v1", "credentials": ["sk-r-1"]}}},
        upstream_transport=httpx.ASGITransport(app=upstream),
    )
    answers = []
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as sdk:
        with sdk.responses.connect() as connection:
            previous = None
            for message in messages:
                event = replayable(message)
                if previous is not None:
                    event["previous_response_id"] = previous
                connection.send(event)
                while (received := connection.recv()).type not in ("response.completed", "response.failed", "error"):
                    pass
                assert received.type == "response.completed", received
                answers.append(received.response)
                previous = received.response.id
    warm_up = answers[0]
    assert warm_up.status == "completed" and warm_up.output == []
    assert len(upstream.requests) == 2  # the warm-up never went upstream
    first, second = upstream.requests
    assert "generate" not in first and "previous_response_id" not in first
    assert [i for i in first["input"] if i.get("type") not in MODELLED_ITEMS] == [
        i for i in messages[1]["input"] if i.get("type") not in MODELLED_ITEMS
    ]
    output = exchange["reply"][1]["events"][-1]["response"]["output"]
    call = next(i for i in second["input"] if i.get("type") == "custom_tool_call")
    assert {k: call[k] for k in ("call_id", "name", "input")} == {k: output[0][k] for k in ("call_id", "name", "input")}
    assert second["input"][-1] == messages[2]["input"][-1]  # the custom_tool_call_output, verbatim
    traced = [
        json.loads(line)
        for path in trace_dir.glob("*.jsonl")
        for line in path.read_text().splitlines()
        if '"websocket"' in line and '"raw_client_request"' in line
    ]
    # prompt_cache_key is redacted in traces; the turns are told apart by their request ids.
    models = {e["data"].get("model") for e in traced}
    assert any(str(m).endswith(messages[0]["model"]) for m in models)
    assert len({e["request_id"] for e in traced if str(e["data"].get("model")).endswith(messages[0]["model"])}) >= len(
        messages
    )


#: Every recorded generation request, by client: (fixture, exchange index).
RECORDED = [
    (path.parent.name + "/" + path.stem, i)
    for path in sorted(CLIENTS.glob("*/*.json"))
    for i, exchange in enumerate(json.loads(path.read_text())["exchanges"])
    if exchange["method"] == "POST"
]
PROTOCOL_OF = {"claude-code": "anthropic_messages", "codex": "openai_responses", "gemini-cli": "gemini"}


async def through_client_sdk(protocol: str, gateway: RotatorASGI, exchange: dict[str, Any]) -> list[Any]:
    """Send a recorded request verbatim through the client's SDK; the answer's events (or whole answer) as the
    SDK's own types."""
    query = "&".join(f"{k}={v}" for k, v in exchange["query"].items())
    path = exchange["path"] + (f"?{query}" if query else "")
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    streamed = exchange["reply"]["stream"]
    if protocol == "anthropic_messages":
        async with anthropic.AsyncAnthropic(base_url="http://gw", api_key=PROXY_KEY, http_client=http) as claude:
            answer = await claude.post(
                path,
                body=exchange["body"],
                cast_to=anthropic.types.Message,
                stream=streamed,
                stream_cls=anthropic.AsyncStream[RawMessageStreamEvent],
            )
            return [event async for event in answer] if streamed else [answer]
    if protocol == "openai_responses":
        async with openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http) as codex:
            answer = await codex.post(
                path.removeprefix("/v1"),
                body=exchange["body"],
                cast_to=openai.types.responses.Response,
                stream=streamed,
                stream_cls=openai.AsyncStream[ResponseStreamEvent],
            )
            return [event async for event in answer] if streamed else [answer]
    # google-genai has no raw-request entry point: its response type reads the gateway's bytes.
    async with http:
        answer = await http.post(f"http://gw{path}", json=exchange["body"], headers={"x-goog-api-key": PROXY_KEY})
    assert answer.status_code == 200, answer.text
    if not streamed:
        return [gtypes.GenerateContentResponse.model_validate_json(answer.content)]
    datas = [line[5:].strip() for line in answer.text.splitlines() if line.startswith("data:")]
    return [gtypes.GenerateContentResponse.model_validate_json(data) for data in datas]


@pytest.mark.parametrize(("scenario", "index"), RECORDED, ids=[f"{s}#{i}" for s, i in RECORDED])
async def test_every_recorded_request_is_accepted_and_answered_in_the_clients_types(scenario: str, index: int) -> None:
    """Each request a real client sent, verbatim (bare model names and all), through a provider of its protocol:
    accepted, forwarded with every input entry the client sent, answered in the client's own SDK types."""
    exchange = json.loads((CLIENTS / f"{scenario}.json").read_text())["exchanges"][index]
    protocol = PROTOCOL_OF[scenario.split("/")[0]]
    reply = exchange["reply"]
    upstream = RecordedUpstream(reply["events"] if reply["stream"] else reply["body"])
    gateway = mounted(protocol, upstream)
    try:
        answers = await through_client_sdk(protocol, gateway, exchange)
    finally:
        await gateway.shutdown()
    assert answers
    if reply["stream"] and protocol != "gemini":
        assert [a.type for a in answers] == [e["type"] for e in reply["events"]]
    body, sent = exchange["body"], upstream.requests[0]
    entries = {"anthropic_messages": "messages", "openai_responses": "input", "gemini": "contents"}[protocol]
    if protocol == "anthropic_messages":
        assert [m for m in sent[entries] if m["role"] == "assistant"] == [
            m for m in body[entries] if m["role"] == "assistant"
        ]
    elif protocol == "openai_responses":
        unmodelled = [i for i in body[entries] if i.get("type") not in MODELLED_ITEMS]
        assert [i for i in sent[entries] if i.get("type") not in MODELLED_ITEMS] == unmodelled
    else:
        assert _content_types(sent[entries]) == _content_types(body[entries])
