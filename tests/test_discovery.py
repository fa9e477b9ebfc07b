"""Model discovery and the model catalogue through the official SDKs, against upstreams answering the three real
list shapes (OpenAI, Anthropic paged by after_id, Gemini paged by pageToken), one of them failing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import types as gtypes

from asgi_rotator import RotatorASGI
from asgi_rotator.cli import main as cli_main

from .catalogue_upstreams import Hosts, ListingUpstream, anthropic_pages, gemini_pages, openai_pages
from .clock import FakeClock
from .conftest import PROXY_KEY

MESSAGES = [{"role": "user", "content": "hi"}]


def config() -> dict[str, Any]:
    return {
        "providers": {
            "oa": {
                "protocol": "openai_chat",
                "base_url": "http://oa.test/v1",
                "credentials": [{"key": "sk-oa-0001", "rpm": 1}],
                "models": ["gpt-configured"],
                "models_exclude": ["model-id-1"],
            },
            "an": {
                "preset": "anthropic",
                "base_url": "http://an.test",
                "credentials": ["sk-ant-test-0001"],
                "models_exclude": ["*"],
                "models_include": ["claude-sonnet-4-5*", "claude-opus-*"],
            },
            "ge": {"preset": "gemini", "base_url": "http://ge.test", "credentials": ["gemini-key-0001"]},
            "dead": {"protocol": "openai_chat", "base_url": "http://dead.test/v1", "credentials": ["sk-dead-0001"]},
        },
        "routing": {"aliases": {"smart": "oa/gpt-configured"}},
        "auth": {"api_keys": [PROXY_KEY]},
    }


class Upstreams:
    def __init__(self) -> None:
        self.oa = ListingUpstream(openai_pages())
        self.an = ListingUpstream(anthropic_pages())
        self.ge = ListingUpstream(gemini_pages())
        self.dead = ListingUpstream({}, fail=True)
        self.hosts = Hosts(oa_test=self.oa, an_test=self.an, ge_test=self.ge, dead_test=self.dead)


def sdk(app: RotatorASGI) -> openai.AsyncOpenAI:
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=client, max_retries=0)


def gemini_sdk(app: RotatorASGI) -> genai.Client:
    options = gtypes.HttpOptions(
        base_url="http://gw", httpx_async_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    )
    return genai.Client(api_key=PROXY_KEY, http_options=options)


EXPECTED = [
    "oa/gpt-configured",
    "oa/model-id-0",
    "oa/model-id-2",
    "an/claude-sonnet-4-5-20250929",
    "an/claude-opus-4-1-20250805",
    "ge/gemini-2.5-flash",
    "ge/text-embedding-004",
    "ge/gemini-2.5-pro",
    "smart",
]


async def test_listing_is_configured_then_discovered_then_aliases_in_both_shapes():
    up = Upstreams()
    app = RotatorASGI(config(), upstream_transport=httpx.ASGITransport(app=up.hosts))
    async with sdk(app) as client:
        listed = [m.id async for m in client.models.list()]
        # Discovery took no lease and counted in no window: the credential's one request a minute is still free.
        await client.chat.completions.create(model="oa/model-id-0", messages=MESSAGES)
    gemini_listed = [m.name async for m in await gemini_sdk(app).aio.models.list()]
    await app.shutdown()
    assert listed == EXPECTED  # the failing provider added nothing and failed nothing
    assert gemini_listed == [f"models/{name}" for name in EXPECTED]
    first, second = up.an.seen
    assert (first.path, first.headers["x-api-key"], first.headers["anthropic-version"]) == (
        "/v1/models",
        "sk-ant-test-0001",
        "2023-06-01",
    )
    assert second.query["after_id"] == "claude-sonnet-4-20250514"
    assert [s.path for s in up.ge.seen] == ["/v1beta/models"] * 2
    assert up.ge.seen[0].headers["x-goog-api-key"] == "gemini-key-0001"
    assert up.ge.seen[1].query["pageToken"] == "ChFtb2RlbHMvZ2VtaW5pLXBybw=="
    assert len(up.oa.seen) == 1 and len(up.dead.seen) == 1  # fetched once, on the first listing


async def test_a_failed_refresh_keeps_the_last_good_list():
    up = Upstreams()
    clock = FakeClock()
    app = RotatorASGI(config(), upstream_transport=httpx.ASGITransport(app=up.hosts), clock=clock)
    async with sdk(app) as client:
        assert [m.id async for m in client.models.list()] == EXPECTED
        up.oa.fail = True
        clock.advance(3601)  # past discovery.ttl: the next listing refreshes in the background
        assert [m.id async for m in client.models.list()] == EXPECTED
        for _ in range(200):  # until the background refresh has asked (and failed)
            if len(up.oa.seen) == 2:
                break
            await asyncio.sleep(0.005)
        assert len(up.oa.seen) == 2
        await asyncio.sleep(0.01)
        assert [m.id async for m in client.models.list()] == EXPECTED
    await app.shutdown()


async def test_one_model_by_id_or_404():
    up = Upstreams()
    app = RotatorASGI(config(), upstream_transport=httpx.ASGITransport(app=up.hosts))
    async with sdk(app) as client:
        found = await client.models.retrieve("oa/model-id-0")
        alias = await client.models.retrieve("smart")
        with pytest.raises(openai.NotFoundError) as missing:
            await client.models.retrieve("oa/model-id-1")  # excluded by models_exclude
    gemini = await gemini_sdk(app).aio.models.get(model="ge/gemini-2.5-pro")
    await app.shutdown()
    assert (found.id, found.owned_by, alias.id) == ("oa/model-id-0", "oa", "smart")
    assert "oa/model-id-1" in missing.value.message
    assert gemini.name == "models/ge/gemini-2.5-pro"


def test_the_models_command_prints_a_running_gateways_catalogue(gateway, fake, capsys):
    fake.models = ["listed-by-upstream"]
    base = gateway(
        {
            "providers": {
                "up": {
                    "protocol": "openai_chat",
                    "base_url": "{fake}/v1",
                    "credentials": ["sk-cli-0001"],
                    "models": ["m1", "m2"],
                }
            },  # fmt: skip
            "routing": {"aliases": {"fast": "up/m1"}},
        }
    )
    assert cli_main(["models", "--url", base, "--key", PROXY_KEY]) == 0
    out = capsys.readouterr().out
    assert "up/m1" in out and "up/m2" in out and "up/listed-by-upstream" in out and "fast" in out
    assert fake.requests == []  # a listing is not a request anyone pays for
