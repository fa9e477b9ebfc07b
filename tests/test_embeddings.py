"""Embeddings through the official SDKs: OpenAI ``embeddings.create`` (its default base64, and float) and
google-genai ``embed_content``, against golden provider answers and the fake upstream."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import types as gtypes

from asgi_rotator import RotatorASGI
from asgi_rotator.testing import FakeUpstream, Reply

from .conftest import PROXY_KEY
from .golden import GoldenUpstream, golden

BASES = {"openai_chat": "http://upstream/v1", "gemini": "http://upstream", "anthropic_messages": "http://upstream"}


def mounted(protocol: str, upstream: Any, *credentials: str, **config: Any) -> RotatorASGI:
    provider = {"protocol": protocol, "base_url": BASES[protocol], "credentials": list(credentials or ["sk-emb-1111"])}
    provider.update(config.pop("provider", {}))
    settings = {"providers": {"up": provider}, "auth": {"api_keys": [PROXY_KEY]}, **config}
    return RotatorASGI(settings, upstream_transport=httpx.ASGITransport(app=upstream))


def openai_sdk(gateway: RotatorASGI) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=gateway))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http, max_retries=0)


def genai_sdk(gateway: RotatorASGI) -> genai.Client:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway))
    return genai.Client(
        api_key=PROXY_KEY, http_options=gtypes.HttpOptions(base_url="http://gw", httpx_async_client=http)
    )


def floats(fixture: str) -> list[list[float]]:
    """The vectors of a golden OpenAI answer, decoded the way the API encodes them."""
    data = golden(fixture)["body"]["data"]
    out = []
    for item in data:
        vector = item["embedding"]
        if isinstance(vector, str):
            raw = base64.b64decode(vector)
            vector = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        out.append(vector)
    return out


def flat(vectors: Any) -> list[float]:
    return [x for vector in vectors for x in vector]


def float32(values: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


@pytest.mark.parametrize(
    ("answer", "encoding"),
    [
        ("embeddings/openai_base64", None),  # the SDK's default: it asks for base64 and decodes it
        ("embeddings/openai_float", "float"),
        ("embeddings/openai_float", None),  # a provider that ignores base64: the gateway encodes for the SDK
        ("embeddings/openai_base64", "float"),  # and decodes for a client that asked for floats
    ],
)
async def test_openai_sdk_gets_the_vectors_whatever_encoding_the_provider_sent(answer, encoding):
    upstream = GoldenUpstream(answer)
    gateway = mounted("openai_chat", upstream)
    options = {"encoding_format": encoding} if encoding else {}
    async with openai_sdk(gateway) as client:
        result = await client.embeddings.create(model="up/text-embedding-3-small", input=["a", "b"], **options)
    await gateway.shutdown()
    expected = floats(answer)
    assert flat(d.embedding for d in result.data) == pytest.approx(flat(expected), rel=1e-6)
    assert result.model == "up/text-embedding-3-small" and result.usage.prompt_tokens == 12
    sent = upstream.requests[0]
    assert sent["path"] == "/v1/embeddings" and sent["body"]["model"] == "text-embedding-3-small"
    assert sent["body"]["encoding_format"] == (encoding or "base64")
    assert sent["headers"]["authorization"] == "Bearer sk-emb-1111"


async def test_raw_base64_answer_is_little_endian_float32():
    gateway = mounted("openai_chat", GoldenUpstream("embeddings/openai_float"))
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        answer = await http.post(
            "/v1/embeddings",
            json={"model": "up/text-embedding-3-small", "input": ["a", "b"], "encoding_format": "base64"},
            headers={"authorization": f"Bearer {PROXY_KEY}"},
        )
    await gateway.shutdown()
    first = golden("embeddings/openai_float")["body"]["data"][0]["embedding"]
    assert answer.json()["data"][0]["embedding"] == base64.b64encode(struct.pack("<5f", *first)).decode()


async def test_a_gemini_provider_gets_batch_embed_contents():
    upstream = GoldenUpstream("embeddings/gemini_batch_response")
    gateway = mounted("gemini", upstream)
    async with openai_sdk(gateway) as client:
        result = await client.embeddings.create(
            model="up/gemini-embedding-001",
            input=["What is the meaning of life?", "How much wood would a woodchuck chuck?"],
            dimensions=3,
        )
    await gateway.shutdown()
    sent = upstream.requests[0]
    assert sent["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent["headers"]["x-goog-api-key"] == "sk-emb-1111"
    reference = golden("embeddings/gemini_batch_request")["request"]["requests"]
    assert [r["content"] for r in sent["body"]["requests"]] == [r["content"] for r in reference]
    assert {r["model"] for r in sent["body"]["requests"]} == {"models/gemini-embedding-001"}
    assert all(r["outputDimensionality"] == 3 for r in sent["body"]["requests"])
    values = [e["values"] for e in golden("embeddings/gemini_batch_response")["body"]["embeddings"]]
    assert flat(d.embedding for d in result.data) == pytest.approx(flat(float32(v) for v in values), rel=1e-6)
    assert result.usage.prompt_tokens > 0  # Gemini reports none: estimated, so the request still counts


@pytest.mark.parametrize(("protocol", "answer"), [("gemini", "gemini_batch_response"), ("openai_chat", "openai_float")])
async def test_google_genai_embed_content_through_the_gemini_route(protocol, answer):
    upstream = GoldenUpstream(f"embeddings/{answer}")
    gateway = mounted(protocol, upstream)
    client = genai_sdk(gateway)
    result = await client.aio.models.embed_content(
        model="up/emb-model",
        contents=["What is the meaning of life?", "How much wood would a woodchuck chuck?"],
        config=gtypes.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT"),
    )
    await gateway.shutdown()
    body = golden(f"embeddings/{answer}")["body"]
    expected = [e["values"] for e in body["embeddings"]] if protocol == "gemini" else floats(f"embeddings/{answer}")
    assert flat(e.values for e in result.embeddings or []) == pytest.approx(flat(expected), rel=1e-6)
    sent = upstream.requests[0]["body"]
    if protocol == "gemini":
        assert [r["taskType"] for r in sent["requests"]] == ["RETRIEVAL_DOCUMENT"] * 2
    else:
        assert sent["input"] == ["What is the meaning of life?", "How much wood would a woodchuck chuck?"]
        assert "taskType" not in sent and sent["model"] == "emb-model"


async def test_single_embed_content_route_answers_one_embedding():
    upstream = FakeUpstream()
    gateway = mounted("gemini", upstream)
    mismatched = mounted("gemini", GoldenUpstream("embeddings/gemini_batch_response"))
    request = golden("embeddings/gemini_embed_request")["request"]
    answers = []
    for app in (gateway, mismatched):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            answers.append(
                await http.post(
                    "/v1beta/models/up/gemini-embedding-001:embedContent",
                    json=request,
                    headers={"x-goog-api-key": PROXY_KEY},
                )
            )
        await app.shutdown()
    text = "What is the meaning of life?"
    assert answers[0].json() == {
        "embedding": {"values": [float(len(text)), float(sum(map(ord, text)) % 1000), 0.5, -0.25]}
    }
    assert upstream.requests[0].path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    # Two embeddings for one input: the upstream's answer is invalid, in Gemini's error shape.
    assert answers[1].status_code == 502 and answers[1].json()["error"]["status"]


async def test_rotation_usage_cost_and_traces(tmp_path: Path):
    upstream = FakeUpstream()
    upstream.on_key("sk-emb-bad1", Reply(status=429, retry_after=30))
    gateway = mounted(
        "openai_chat",
        upstream,
        "sk-emb-bad1",
        "sk-emb-good",
        provider={"selection": "sequential", "models": {"emb": {"pricing": {"input": 1.0, "output": 1.0}}}},
        trace={"enabled": True, "dir": str(tmp_path)},
    )
    async with openai_sdk(gateway) as client:
        result = await client.embeddings.create(
            model="up/emb", input=["one two three", "four"], encoding_format="float"
        )
        raw = await client.embeddings.with_raw_response.create(model="up/emb", input="again")
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw")
    usage = (await http.get("/rotator/usage", headers={"authorization": f"Bearer {PROXY_KEY}"})).json()
    await gateway.shutdown()
    assert result.data[0].embedding == [13.0, float(sum(map(ord, "one two three")) % 1000), 0.5, -0.25]
    assert upstream.keys_used()[:2] == ["sk-emb-bad1", "sk-emb-good"]
    assert raw.headers["x-rotator-provider"] == "up/emb"
    model = usage["by_model"]["up/emb"]
    assert model["requests"] == 2 and model["input_tokens"] == 5
    assert model["cost_usd"] == pytest.approx(5 / 1_000_000)
    passes = [json.loads(line)["pass_name"] for f in tmp_path.rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert "provider_request" in passes and "routing_target_attempt_failed" in passes
    assert not any("sk-emb-good" in f.read_text() for f in tmp_path.rglob("*.jsonl"))


async def test_bad_requests_are_400_in_the_client_shape():
    gateway = mounted("anthropic_messages", FakeUpstream())
    async with openai_sdk(gateway) as client:
        with pytest.raises(openai.BadRequestError, match="no embeddings"):
            await client.embeddings.create(model="up/claude", input="hi")
        with pytest.raises(openai.BadRequestError, match="input"):
            await client.embeddings.create(model="up/claude", input=[])  # type: ignore[arg-type]
    await gateway.shutdown()


async def test_concurrent_small_requests_share_one_upstream_call_when_batching_is_on():
    upstream = FakeUpstream()
    # A full batch goes at once: six inputs fill it, so no test waits on the timer.
    gateway = mounted("openai_chat", upstream, embeddings={"batching": True, "max_items": 6, "max_wait": 30})
    inputs = [["a", "bb"], ["ccc", "dddd"], ["eeeee", "ffffff"]]
    async with openai_sdk(gateway) as client:
        answers = await asyncio.gather(
            *(client.embeddings.create(model="up/emb", input=texts, encoding_format="float") for texts in inputs)
        )
        alone = await client.embeddings.create(
            model="up/emb", input=[str(i) for i in range(6)], encoding_format="float"
        )
    usage = await usage_of(gateway)
    await gateway.shutdown()
    assert [r.body["input"] for r in upstream.requests] == [[t for texts in inputs for t in texts], list("012345")]
    for texts, answer in zip(inputs, answers, strict=True):
        assert [d.embedding[0] for d in answer.data] == [float(len(t)) for t in texts]
    assert sum(a.usage.prompt_tokens for a in answers) == 6 and len(alone.data) == 6
    assert usage["by_model"]["up/emb"]["requests"] == 4


async def test_a_lone_request_goes_when_its_batch_times_out():
    upstream = FakeUpstream()
    gateway = mounted("openai_chat", upstream, embeddings={"batching": True, "max_items": 64, "max_wait": 0.01})
    answer = await gateway.aembedding(model="up/emb", input="alone")
    await gateway.aclose()
    assert answer["data"][0]["embedding"][0] == 5.0 and len(upstream.requests) == 1


async def usage_of(gateway: RotatorASGI) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as http:
        answer = await http.get("/rotator/usage", headers={"authorization": f"Bearer {PROXY_KEY}"})
    return answer.json()  # type: ignore[no-any-return]
