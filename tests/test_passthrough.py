"""Passthrough routes through the openai SDK: completions, images (generation, and edits with a file upload),
audio (transcription of an uploaded file, speech streamed back as bytes), moderations and rerank, with
rotation, cooldowns, usage, traces and the body limit."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest

from asgi_rotator import RotatorASGI
from asgi_rotator.http.multipart import spool_form
from asgi_rotator.types import Message, Receive, Scope, Send

from .conftest import PROXY_KEY

AUDIO = bytes(range(256)) * 1200  # about 300 KB of "speech"
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 6000  # about 1.5 MB: spooled past memory to disk


class OpenAIExtras:
    """A fake OpenAI upstream for the passthrough endpoints; it keeps every request and may refuse keys."""

    def __init__(self, refuse: str | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        fields = _form(headers["content-type"], raw) if "multipart" in headers.get("content-type", "") else None
        body = json.loads(raw) if fields is None else {k: v for k, v in fields.items() if isinstance(v, str)}
        self.requests.append({"path": path, "headers": headers, "body": body, "fields": fields, "raw": raw})
        if headers.get("authorization") == f"Bearer {self.refuse}":
            error = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
            await _send(send, 429, json.dumps(error).encode(), "application/json", [(b"retry-after", b"20")])
        elif path == "/v1/audio/speech":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"audio/mpeg")]})
            for i in range(0, len(AUDIO), 65536):
                await send({"type": "http.response.body", "body": AUDIO[i : i + 65536], "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        elif path == "/v1/completions" and body.get("stream"):
            frames = [
                {
                    "id": "cmpl-1",
                    "object": "text_completion",
                    "model": body["model"],
                    "choices": [{"text": t, "index": 0}],
                }
                for t in ("Once ", "upon")
            ]
            frames.append({"id": "cmpl-1", "object": "text_completion", "model": body["model"], "choices": [], **USAGE})
            sse = "".join(f"data: {json.dumps(f)}\n\n" for f in frames) + "data: [DONE]\n\n"
            await _send(send, 200, sse.encode(), "text/event-stream")
        else:
            await _send(send, 200, json.dumps(ANSWERS[path](body, fields)).encode(), "application/json")


USAGE = {"usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}
ANSWERS = {
    "/v1/completions": lambda body, _: {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": body["model"],
        "choices": [{"text": "Once upon", "index": 0, "finish_reason": "length", "logprobs": None}],
        **USAGE,
    },
    "/v1/images/generations": lambda body, _: {
        "created": 1,
        "data": [{"b64_json": "aW1hZ2U="}],
        "usage": {"input_tokens": 10, "output_tokens": 100, "total_tokens": 110},
    },
    "/v1/images/edits": lambda body, fields: {
        "created": 1,
        "data": [{"b64_json": "ZWRpdGVk", "revised_prompt": f"{len(fields['image'])} bytes edited"}],
    },
    "/v1/audio/transcriptions": lambda body, fields: {
        "text": f"heard {len(fields['file'])} bytes",
        "usage": {"type": "tokens", "input_tokens": 20, "output_tokens": 4, "total_tokens": 24},
    },
    "/v1/moderations": lambda body, _: {
        "id": "modr-1",
        "model": body["model"],
        "results": [{"flagged": False, "categories": {}, "category_scores": {}}],
    },
    "/v1/rerank": lambda body, _: {
        "results": [{"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.1}],
        "usage": {"total_tokens": 8},
    },
}


def _form(content_type: str, raw: bytes) -> dict[str, str | bytes]:
    parsed = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw, policy=email.policy.HTTP)
    out: dict[str, str | bytes] = {}
    for part in parsed.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        out[name] = payload if part.get_filename() else payload.decode()
    return out


async def _send(send: Send, status: int, body: bytes, content_type: str, extra: list[Any] | None = None) -> None:
    headers = [(b"content-type", content_type.encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def mounted(upstream: Any, *keys: str, protocol: str = "openai_chat", **config: Any) -> RotatorASGI:
    provider = {"protocol": protocol, "base_url": "http://upstream/v1", "credentials": list(keys or ["sk-pt-1111"])}
    provider.update(config.pop("provider", {}))
    settings = {"providers": {"up": provider}, "auth": {"api_keys": [PROXY_KEY]}, **config}
    return RotatorASGI(settings, upstream_transport=httpx.ASGITransport(app=upstream))


def sdk(gateway: RotatorASGI) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http, max_retries=0)


async def usage_of(gateway: RotatorASGI) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as http:
        answer = await http.get("/rotator/usage", headers={"authorization": f"Bearer {PROXY_KEY}"})
    return answer.json()  # type: ignore[no-any-return]


async def test_completions_json_and_stream_with_usage(tmp_path: Path):
    upstream = OpenAIExtras()
    gateway = mounted(upstream, trace={"enabled": True, "dir": str(tmp_path)})
    async with sdk(gateway) as client:
        completion = await client.completions.create(model="up/gpt-3.5-turbo-instruct", prompt="Tell me", max_tokens=2)
        stream = await client.completions.create(
            model="up/gpt-3.5-turbo-instruct", prompt="Tell me", stream=True, stream_options={"include_usage": True}
        )
        streamed = "".join([c.choices[0].text async for c in stream if c.choices])
    usage = await usage_of(gateway)
    await gateway.shutdown()
    assert completion.choices[0].text == "Once upon" and completion.model == "up/gpt-3.5-turbo-instruct"
    assert streamed == "Once upon"
    assert [r["body"]["model"] for r in upstream.requests] == ["gpt-3.5-turbo-instruct"] * 2
    assert upstream.requests[0]["body"]["max_tokens"] == 2
    row = usage["by_model"]["up/gpt-3.5-turbo-instruct"]
    assert row["requests"] == 2 and row["input_tokens"] == 10 and row["output_tokens"] == 14
    passes = [json.loads(line)["pass_name"] for f in tmp_path.rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert passes.count("provider_request") == 2


async def test_images_generate_and_edit_with_an_uploaded_file_rotating_past_a_rate_limit():
    upstream = OpenAIExtras(refuse="sk-pt-limited")
    gateway = mounted(upstream, "sk-pt-limited", "sk-pt-good", provider={"selection": "sequential"})
    async with sdk(gateway) as client:
        edited = await client.images.edit(
            model="up/gpt-image-1", image=("cat.png", IMAGE, "image/png"), prompt="add a hat"
        )
        generated = await client.images.generate(model="up/gpt-image-1", prompt="a cat")
    usage = await usage_of(gateway)
    await gateway.shutdown()
    assert generated.data and generated.data[0].b64_json == "aW1hZ2U="
    assert edited.data and edited.data[0].revised_prompt == f"{len(IMAGE)} bytes edited"
    refused, served = [r for r in upstream.requests if r["path"] == "/v1/images/edits"]
    assert refused["headers"]["authorization"] == "Bearer sk-pt-limited"
    assert served["headers"]["authorization"] == "Bearer sk-pt-good"
    assert refused["raw"] == served["raw"] and served["fields"]["image"] == IMAGE  # replayed whole, byte for byte
    assert served["fields"]["model"] == "gpt-image-1" and served["fields"]["prompt"] == "add a hat"
    assert int(served["headers"]["content-length"]) == len(served["raw"])
    assert usage["by_model"]["up/gpt-image-1"]["output_tokens"] == 100


async def test_audio_transcription_of_a_file_and_speech_streamed_to_bytes():
    upstream = OpenAIExtras()
    gateway = mounted(upstream)
    async with sdk(gateway) as client:
        transcript = await client.audio.transcriptions.create(
            model="up/gpt-4o-transcribe", file=("talk.mp3", AUDIO, "audio/mpeg")
        )
        async with client.audio.speech.with_streaming_response.create(
            model="up/gpt-4o-mini-tts", voice="alloy", input="Hello"
        ) as speech:
            chunks = [chunk async for chunk in speech.iter_bytes()]
            content_type = speech.headers["content-type"]
    usage = await usage_of(gateway)
    await gateway.shutdown()
    assert transcript.text == f"heard {len(AUDIO)} bytes"
    assert b"".join(chunks) == AUDIO and content_type == "audio/mpeg"
    assert upstream.requests[1]["body"] == {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": "Hello"}
    assert usage["by_model"]["up/gpt-4o-transcribe"]["input_tokens"] == 20
    assert usage["by_model"]["up/gpt-4o-mini-tts"]["requests"] == 1


async def test_moderations_and_rerank():
    upstream = OpenAIExtras()
    gateway = mounted(upstream)
    async with sdk(gateway) as client:
        moderation = await client.moderations.create(model="up/omni-moderation-latest", input="hello")
        reranked = await client.post(
            "/rerank",
            body={"model": "up/rerank-v3", "query": "q", "documents": ["a", "b"]},
            cast_to=object,
        )
    await gateway.shutdown()
    assert moderation.results[0].flagged is False and moderation.model == "up/omni-moderation-latest"
    assert reranked["results"][0]["index"] == 1  # type: ignore[index]
    assert upstream.requests[1]["path"] == "/v1/rerank" and upstream.requests[1]["body"]["model"] == "rerank-v3"


async def test_uploads_obey_the_body_limit_and_other_providers_are_refused():
    upstream = OpenAIExtras()
    limited = mounted(upstream, server={"max_body_bytes": 100_000})
    anthropic = mounted(upstream, protocol="anthropic_messages")
    async with sdk(limited) as client:
        with pytest.raises(openai.APIStatusError) as too_large:
            await client.images.edit(model="up/gpt-image-1", image=("cat.png", IMAGE, "image/png"), prompt="x")
    async with sdk(anthropic) as client:
        with pytest.raises(openai.BadRequestError, match="OpenAI-compatible"):
            await client.moderations.create(model="up/m", input="x")
        with pytest.raises(openai.BadRequestError, match="model"):
            await client.audio.speech.create(model="", voice="alloy", input="x")
    await limited.shutdown()
    await anthropic.shutdown()
    assert too_large.value.status_code == 413 and not upstream.requests


async def test_spooled_form_finds_fields_split_across_chunks_and_replays_with_a_new_model():
    boundary = "b0undary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="model"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n",
    ]
    raw = (
        "".join(parts).encode()
        + IMAGE
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nup/m1\r\n--{boundary}--\r\n'
        ).encode()
    )
    messages = iter(
        [{"type": "http.request", "body": raw[i : i + 7], "more_body": i + 7 < len(raw)} for i in range(0, len(raw), 7)]
    )

    async def receive() -> Message:
        return next(messages)

    form = await spool_form(receive, f"multipart/form-data; boundary={boundary}", 10_000_000, ("model", "prompt"))
    assert form.value("model") == "up/m1" and form.value("prompt") == "hi"
    assert form.file._rolled  # type: ignore[attr-defined]  # on disk, not in memory
    length, chunks = form.replayed({"model": "m1"})
    replayed = b"".join([chunk async for chunk in chunks])
    form.close()
    assert replayed == raw.replace(b"up/m1", b"m1") and length == len(replayed)


class EndlessSpeech:
    """An upstream that streams audio until its client goes away, and notes that it went."""

    def __init__(self) -> None:
        self.sent = 0
        self.gone = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"audio/mpeg")]})
        disconnected = asyncio.ensure_future(receive())
        while not disconnected.done():
            await send({"type": "http.response.body", "body": b"\0" * 4096, "more_body": True})
            self.sent += 1
            await asyncio.sleep(0.005)
        self.gone.set()


def _gateway_to(app: Any, upstream_server: Any, gateway: Any) -> str:
    """A gateway over real sockets whose one provider is ``app``, served by the swappable upstream server."""
    swappable, _ = upstream_server
    base = gateway(
        {"providers": {"up": {"protocol": "openai_chat", "base_url": "{fake}/v1", "credentials": ["sk-up-1111"]}}}
    )
    swappable.app = app  # after the gateway fixture read fake.url
    return str(base)


def test_a_client_that_leaves_a_binary_answer_stops_the_upstream(_upstream_server, gateway, fake):
    speech = EndlessSpeech()
    base = _gateway_to(speech, _upstream_server, gateway)
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        with client.audio.speech.with_streaming_response.create(model="up/tts", voice="alloy", input="x") as answer:
            first = next(answer.iter_bytes(4096))
    assert first and speech.gone.wait(10)


def test_uploads_stream_through_the_gateways_own_client_over_sockets(_upstream_server, gateway, fake):
    # The other upload tests use the in-process transport; this one crosses aiohttp and two real sockets, with
    # a file large enough to arrive in many pieces.
    upstream = OpenAIExtras()
    base = _gateway_to(upstream, _upstream_server, gateway)
    audio = AUDIO * (3 * 1024 * 1024 // len(AUDIO))
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        transcript = client.audio.transcriptions.create(model="up/whisper-1", file=("long.mp3", audio, "audio/mpeg"))
    assert transcript.text == f"heard {len(audio)} bytes"
    assert upstream.requests[0]["headers"]["authorization"] == "Bearer sk-up-1111"
