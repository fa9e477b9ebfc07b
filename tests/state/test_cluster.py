"""The gateway on a private 3-master Redis Cluster (``redis+cluster://``), through the official OpenAI SDK.

Every key of one gateway shares the prefix's hash tag, so one slot and one shard hold all of them: the
cluster is a deployment target, not a way to spread one gateway's load. CLUSTER KEYSLOT proves it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import httpx2
import openai
import pytest

from asgi_rotator import RotatorASGI
from asgi_rotator.config import load_config
from asgi_rotator.errors import ConfigError
from asgi_rotator.testing import FakeUpstream, Reply

from ..conftest import PROXY_KEY
from ..redis_servers import RedisCluster

pytestmark = pytest.mark.redis


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
async def gateway(redis_cluster: RedisCluster, upstream: FakeUpstream) -> AsyncIterator[RotatorASGI]:
    def provider(*credentials: object) -> dict[str, object]:
        return {"protocol": "openai_chat", "base_url": "http://upstream/v1", "credentials": list(credentials)}

    config = {
        "providers": {
            "capped": provider({"key": "sk-cluster-capped-1111", "rpm": 3}),
            "up": provider({"key": "sk-cluster-up-2222", "max_concurrency": 2}, "sk-cluster-up-3333"),
        },
        "auth": {"api_keys": [{"key": PROXY_KEY, "budget": {"requests": 100}}]},
        "state": {"backend": "redis", "url": redis_cluster.url, "prefix": f"{{gw-{uuid.uuid4().hex[:8]}}}:"},
    }
    app = RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=upstream))
    yield app
    await app.shutdown()


def sdk(app: RotatorASGI) -> openai.AsyncOpenAI:
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=PROXY_KEY, http_client=client, max_retries=0)


async def test_caps_lineage_and_usage_on_a_cluster_with_every_key_in_one_slot(gateway, upstream, redis_cluster):
    async with sdk(gateway) as client:

        async def ask() -> int:
            try:
                await client.chat.completions.create(model="capped/m", messages=[{"role": "user", "content": "hi"}])
            except openai.APIStatusError as exc:
                return exc.status_code
            return 200

        statuses = await asyncio.gather(*(ask() for _ in range(8)))
        assert sorted(statuses) == [200] * 3 + [503] * 5  # rpm 3, decided and counted in one script

        upstream.script(Reply(text="lantern"), Reply(text="noted"), Reply(text="still lantern"), Reply(text="yes"))
        previous = await client.responses.create(model="up/m", input="remember the word 'lantern'")
        for turn in ("note this", "which word?", "sure?"):
            previous = await client.responses.create(model="up/m", input=turn, previous_response_id=previous.id)
        assert previous.output_text == "yes"
        sent = upstream.requests[-1].request
        assert sent is not None
        asked = [m.text for m in sent.messages if m.role == "user"]
        assert asked == ["remember the word 'lantern'", "note this", "which word?", "sure?"]  # depth 3 lineage

        async with client.chat.completions.stream(model="up/m", messages=[{"role": "user", "content": "hi"}]) as s:
            await s.until_done()

    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw")
    usage = (await http.get("/rotator/usage", headers={"authorization": f"Bearer {PROXY_KEY}"})).json()
    await http.aclose()
    assert usage["by_model"]["capped/m"]["requests"] == 3
    assert usage["by_model"]["up/m"]["requests"] == 5

    prefix = gateway.config.state.prefix
    placed = {port: redis_cluster.keys(port, prefix.replace("{", "\\{").replace("}", "\\}") + "*")
              for port in redis_cluster.ports}  # fmt: skip
    holders = [port for port, keys in placed.items() if keys]
    assert len(holders) == 1, f"the gateway's keys are on {len(holders)} shards"
    keys = placed[holders[0]]
    assert any(":resp:" in key for key in keys) and any(":usage:" in key for key in keys)
    assert {redis_cluster.slot(key) for key in keys} == {redis_cluster.slot(prefix)}


def test_a_cluster_url_gets_a_hash_tag_prefix_and_refuses_one_without():
    url = "redis+cluster://127.0.0.1:7001,127.0.0.1:7002/"
    assert load_config({"state": {"backend": "redis", "url": url}}).state.prefix == "{rotator}:"
    assert load_config({"state": {"backend": "redis", "url": url, "prefix": "gw:{a}:"}}).state.prefix == "gw:{a}:"
    with pytest.raises(ConfigError, match="hash tag"):
        load_config({"state": {"backend": "redis", "url": url, "prefix": "rotator:"}})
    with pytest.raises(ConfigError, match="hash tag"):
        load_config({"state": {"backend": "redis", "url": url, "prefix": "{}rotator:"}})
    assert load_config({"state": {"backend": "redis", "url": "redis://h:6379/0"}}).state.prefix == "rotator:"


def test_a_cluster_url_names_nodes_credentials_tls_and_no_database():
    from redis.asyncio.connection import SSLConnection

    from asgi_rotator.state.redis_connect import client_from_url

    client = client_from_url("rediss+cluster://user:p%40ss@127.0.0.1:7001,127.0.0.1:7002/?ssl_cert_reqs=none")
    options = client.connection_kwargs
    assert options["connection_class"] is SSLConnection and options["ssl_cert_reqs"] == "none"
    assert (options["username"], options["password"]) == ("user", "p@ss")
    assert sorted(node.name for node in client.startup_nodes) == ["127.0.0.1:7001", "127.0.0.1:7002"]
    with pytest.raises(ConfigError, match="no database"):
        client_from_url("redis+cluster://127.0.0.1:7001/3")
