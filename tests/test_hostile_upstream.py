"""Fault injection: a hostile upstream (raw asyncio, tests/hostile.py) behind the gateway's real HTTP client,
every fault for every client SDK, streamed and not, with one and with two credentials. Each case checks the
answer the client gets, that the next request is still served, and that no credential leaked anywhere."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors, types as gtypes

from asgi_rotator import RotatorASGI

from .conftest import PROXY_KEY, SECRETS
from .golden import golden
from .hostile import Answer, HostileUpstream, drip, endless, raw_bytes, respond, stream

KEYS = ["sk-hostile-aaaa-1111-secret", "sk-hostile-bbbb-2222-secret"]
SECRETS.update(KEYS)
GOOD = golden("openai_chat/response_logprobs")["body"]
GOOD_SSE = golden("openai_chat/stream_logprobs_usage")["sse"]
GOOD_TEXT = GOOD["choices"][0]["message"]["content"]
STREAM_TEXT = "".join(
    json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
    for line in GOOD_SSE.splitlines()
    if line.startswith("data: {") and json.loads(line[6:])["choices"]
)
CLIENTS = ["openai_chat", "openai_responses", "anthropic_messages", "gemini"]


def good() -> Answer:
    return respond(200, GOOD)


def good_stream() -> Answer:
    return stream(GOOD_SSE)


@dataclass
class Outcome:
    """What the client saw: its text, or the error (HTTP status, or 0 for an error inside a stream)."""

    text: str | None = None
    status: int | None = None
    message: str = ""


async def ask(client_protocol: str, gateway: RotatorASGI, stream: bool) -> Outcome:
    try:
        return Outcome(await _ask(client_protocol, gateway, stream))
    except (openai.APIStatusError, anthropic.APIStatusError) as exc:
        return Outcome(status=exc.status_code, message=str(exc))
    except (openai.APIError, anthropic.APIError) as exc:  # in-band, after the stream started
        return Outcome(status=0, message=str(exc))
    except genai_errors.APIError as exc:
        return Outcome(status=exc.code or 0, message=str(exc))
    except RuntimeError as exc:  # the openai SDK's Responses helper, for a stream that ended response.failed
        return Outcome(status=0, message=str(exc))


async def _ask(client_protocol: str, gateway: RotatorASGI, stream: bool) -> str:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    if client_protocol in ("openai_chat", "openai_responses"):
        async with openai.AsyncOpenAI(
            base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http, max_retries=0
        ) as client:
            if client_protocol == "openai_chat":
                messages: Any = [{"role": "user", "content": "hi"}]
                if stream:
                    async with client.chat.completions.stream(model="up/m", messages=messages) as s:
                        return (await s.get_final_completion()).choices[0].message.content or ""
                completion = await client.chat.completions.create(model="up/m", messages=messages)
                return completion.choices[0].message.content or ""
            if stream:
                async with client.responses.stream(model="up/m", input="hi") as s:
                    return (await s.get_final_response()).output_text
            return (await client.responses.create(model="up/m", input="hi")).output_text
    if client_protocol == "anthropic_messages":
        async with anthropic.AsyncAnthropic(
            base_url="http://gw", api_key=PROXY_KEY, http_client=http, max_retries=0
        ) as client:
            request: Any = {"model": "up/m", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
            if stream:
                async with client.messages.stream(**request) as s:
                    message = await s.get_final_message()
            else:
                message = await client.messages.create(**request)
            return "".join(block.text for block in message.content if block.type == "text")
    options = gtypes.HttpOptions(
        base_url="http://gw",
        httpx_async_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway)),
        retry_options=gtypes.HttpRetryOptions(attempts=1),
    )
    client = genai.Client(api_key=PROXY_KEY, http_options=options)
    if stream:
        chunks = [c async for c in await client.aio.models.generate_content_stream(model="up/m", contents="hi")]
        return "".join(c.text or "" for c in chunks)
    return (await client.aio.models.generate_content(model="up/m", contents="hi")).text or ""


@pytest.fixture
async def hostile():
    upstream = HostileUpstream(good())
    upstream.url = await upstream.start()  # type: ignore[attr-defined]
    yield upstream
    await upstream.stop()


@pytest.fixture
def build(hostile, tmp_path: Path):
    def make(keys: int, **extra: Any) -> RotatorASGI:
        provider = {"protocol": "openai_chat", "base_url": hostile.url + "/v1", "credentials": KEYS[:keys]}
        config = {
            "providers": {"up": provider},
            "auth": {"api_keys": [PROXY_KEY]},
            "trace": {"enabled": True, "dir": str(tmp_path)},
            "retries": {"backoff_base": 0.01, "backoff_max": 0.02},
            # Fail fast instead of waiting out a short cooldown (waiting is tested elsewhere).
            "routing": {"max_wait": 0},
            **extra,
        }
        return RotatorASGI(config)  # each test shuts it down on its own event loop

    return make


def leaked(tmp_path: Path, *texts: str) -> list[str]:
    """Every form of a credential found in the client's view or any trace file."""
    forms = {k for key in KEYS for k in (key, base64.b64encode(key.encode()).decode())}
    haystacks = [*texts, *(f.read_text() for f in tmp_path.glob("*.jsonl"))]
    return sorted({form for form in forms for text in haystacks if form in text})


Arrange = Callable[[HostileUpstream, bool], None]
RATE_LIMITED = {"error": {"type": "rate_limit_exceeded", "message": "slow"}}


def _openai_revoked() -> Answer:
    fixture = golden("openai_chat/error_401_invalid_api_key")
    body = json.loads(json.dumps(fixture["body"]))
    # Some upstreams echo the key they rejected, encoded; it must be scrubbed before anyone sees it.
    body["error"]["message"] += " Key (b64): " + base64.b64encode(KEYS[0].encode()).decode()
    return respond(401, body)


FAULTS: dict[str, tuple[Arrange, str]] = {
    # name: (arrange the first key's answers, what the client gets with one key)
    "revoked_key": (lambda up, s: up.on_key(KEYS[0], _openai_revoked()), "error:502"),
    "gemini_bad_key_shape": (
        lambda up, s: up.on_key(KEYS[0], respond(400, golden("gemini/error_400_api_key_invalid")["body"])),
        "error:502",
    ),
    "credit_balance": (
        lambda up, s: up.on_key(KEYS[0], respond(400, golden("anthropic_messages/error_400_credit_balance")["body"])),
        "error:503",
    ),
    **{
        f"retry_after_{name}": (
            lambda up, s, value=value: up.on_key(
                KEYS[0],
                respond(429, {"error": {"type": "rate_limit_exceeded", "message": "slow"}}, {"retry-after": value}),
            ),
            "error:503",
        )
        for name, value in [
            ("inf", "inf"),
            ("nan", "nan"),
            ("1e400", "1e400"),
            ("bad_date", "Wed, 99 Foo 2026 25:61:00 GMT"),
            ("huge", "99999999999"),
            ("negative", "-5"),
        ]
    },
    "transient_500_once": (
        lambda up, s: up.on_key(KEYS[0], respond(500, {"error": {"message": "boom", "type": "server_error"}})),
        "ok",
    ),
    "transient_529_once": (
        lambda up, s: up.on_key(KEYS[0], respond(529, {"type": "error", "error": {"type": "overloaded_error"}})),
        "ok",
    ),
    "reset_before_output": (
        lambda up, s: up.on_key(
            KEYS[0], stream(GOOD_SSE, then="reset", cut_at=0) if s else raw_bytes(b"HTTP/1.1 200 OK\r\n", reset=True)
        ),
        "ok",
    ),
    "bad_status_line": (lambda up, s: up.on_key(KEYS[0], raw_bytes(b"HTTP/9 banana\r\n\r\n")), "ok"),
    "gzip": (
        lambda up, s: up.on_key(
            KEYS[0],
            stream(GOOD_SSE, gzipped=True)
            if s
            else respond(200, gzip.compress(json.dumps(GOOD).encode()), {"content-encoding": "gzip"}),
        ),
        "ok",
    ),
    "bad_gzip": (
        lambda up, s: up.on_key(KEYS[0], respond(200, b"\x1f\x8b not gzip at all", {"content-encoding": "gzip"})),
        "error:502",
    ),
    # An invalid JSON 200 tries the next credential (502 when none is left); a stream that ends without its
    # protocol's terminal is a transient failure, retried on the same credential.
    **{
        f"invalid_200_{name}": (lambda up, s, body=body: up.on_key(KEYS[0], respond(200, body)), "error:502|ok")
        for name, body in [("empty", b""), ("list", []), ("wrong_shape", {"foo": 1}), ("not_utf8", b"\xff\xfe\x00")]
    },
}


@pytest.mark.parametrize("keys", [1, 2], ids=["one_key", "two_keys"])
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("client_protocol", CLIENTS)
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_each_fault_for_each_client(hostile, build, tmp_path, fault, client_protocol, streamed, keys):
    arrange, one_key = FAULTS[fault]
    one_key = one_key.split("|")[streamed] if "|" in one_key else one_key
    hostile.default = good_stream() if streamed else good()
    arrange(hostile, streamed)
    gateway = build(keys)
    try:
        outcome = await ask(client_protocol, gateway, streamed)
        expected_text = STREAM_TEXT if streamed else GOOD_TEXT
        if keys == 2 or one_key == "ok":
            assert outcome.text == expected_text, outcome
        else:
            status = int(one_key.split(":")[1])
            assert outcome.text is None and outcome.status == status, outcome
            assert "Traceback" not in outcome.message
        # Whatever happened, the gateway still serves, and its introspection still answers.
        hostile.default = good()
        hostile.by_key.clear()  # a fault the first request did not meet (it went to the other key) is dropped
        assert (await ask(client_protocol, gateway, False)).text == GOOD_TEXT or keys == 1 and one_key != "ok"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as http:
            states = await http.get("/rotator/credentials", headers={"x-api-key": PROXY_KEY})
        assert states.status_code == 200
        assert all(row["cooldown_remaining"] <= 86400 for row in states.json()["credentials"])
    finally:
        await gateway.shutdown()
    assert not leaked(tmp_path, outcome.message, outcome.text or "", states.text)


@pytest.mark.parametrize("client_protocol", CLIENTS)
async def test_a_reset_after_output_ends_the_stream_in_band(hostile, build, tmp_path, client_protocol):
    hostile.default = stream(GOOD_SSE, then="reset", cut_at=len(GOOD_SSE) // 2)
    gateway = build(1)
    try:
        outcome = await ask(client_protocol, gateway, True)
    finally:
        await gateway.shutdown()
    assert outcome.text is None, "a cut stream must never look like a success"
    assert not leaked(tmp_path, outcome.message)


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
async def test_bodies_and_events_are_bounded(hostile, build, streamed):
    if streamed:
        hostile.default = endless(chunk=b"data: " + b"x" * 65536, content_type="text/event-stream")
        gateway = build(1, server={"max_sse_event_bytes": 1024 * 1024})
    else:
        hostile.default = endless(chunk=b"x" * 65536)
        gateway = build(1, server={"max_upstream_body_bytes": 1024 * 1024})
    try:
        outcome = await ask("openai_chat", gateway, streamed)
    finally:
        await gateway.shutdown()
    assert outcome.text is None and outcome.status == 502


async def test_a_dripping_upstream_cannot_stretch_the_request_budget(hostile, build):
    hostile.default = drip(json.dumps(GOOD).encode(), every=0.05)  # about 70 s for the whole body
    gateway = build(1, routing={"request_timeout": 1.5, "max_wait": 0})
    started = __import__("time").monotonic()
    try:
        outcome = await ask("openai_chat", gateway, False)
    finally:
        await gateway.shutdown()
    assert outcome.status == 504 and __import__("time").monotonic() - started < 10
