"""Runtime configuration on one app (memory state): providers, credentials and scopes added, changed and
removed over the admin HTTP API and the Python API, with the official OpenAI SDK as the client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest

from asgi_rotator import GatewayError, RotatorASGI
from asgi_rotator.testing import FakeUpstream, Reply

from .conftest import PROXY_KEY, SECRETS

ADMIN_KEY = "proxy-admin-key-rt-0009"
SCOPED_KEY = "proxy-scoped-key-rt-0002"
NEW_TEAM_KEY = "proxy-newteam-key-rt-0003"
RUNTIME_KEY = "sk-runtime-added-key-7777"
TEAM_KEY = "sk-team-runtime-key-8888"
SECRETS.update({ADMIN_KEY, SCOPED_KEY, NEW_TEAM_KEY, RUNTIME_KEY, TEAM_KEY})
MESSAGES = [{"role": "user", "content": "hi"}]
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}
PROVIDER = {"protocol": "openai_chat", "base_url": "http://upstream/v1"}


def make_app(upstream: FakeUpstream, trace_dir: Path) -> RotatorASGI:
    config: dict[str, Any] = {
        "providers": {"file": {**PROVIDER, "credentials": ["sk-file-key-1111"]}},
        "auth": {"api_keys": [PROXY_KEY, {"key": SCOPED_KEY, "scope": "team"}], "admin_keys": [ADMIN_KEY]},
        "scopes": {"team": {"providers": {"file": {"credentials": ["sk-team-file-key-2222"]}}}},
        "trace": {"enabled": True, "dir": str(trace_dir)},
        "server": {"max_body_bytes": 65536},
    }
    return RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=upstream))


def admin_http(app: RotatorASGI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw", headers=ADMIN)


def sdk(app: RotatorASGI, key: str = PROXY_KEY) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=key, http_client=http, max_retries=0)


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


async def test_a_provider_added_over_http_serves_the_sdk_until_it_is_removed(upstream, trace_dir):
    app = make_app(upstream, trace_dir)
    client = sdk(app)
    async with admin_http(app) as admin:
        put = await admin.put("/rotator/config/providers/rt", json=PROVIDER)
        added = await admin.post("/rotator/config/providers/rt/credentials", json={"key": RUNTIME_KEY, "priority": 1})
        completion = await client.chat.completions.create(model="rt/gpt-x", messages=MESSAGES)
        credentials = (await admin.get("/rotator/credentials")).json()["credentials"]
        shown = (await admin.get("/rotator/config")).json()

        removed = await admin.delete(f"/rotator/config/providers/rt/credentials/...{RUNTIME_KEY[-4:]}")
        with pytest.raises(openai.APIStatusError) as no_credential:
            await client.chat.completions.create(model="rt/gpt-x", messages=MESSAGES)
        await admin.delete("/rotator/config/providers/rt")
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model="rt/gpt-x", messages=MESSAGES)
    await client.close()
    await app.aclose()

    assert put.status_code == 200 and added.status_code == 201
    assert completion.choices[0].message.content == "Hello from the fake upstream."
    assert upstream.requests[0].key == RUNTIME_KEY and upstream.requests[0].model == "gpt-x"
    assert any(row["provider"] == "rt" and row["credential"] == "...7777" for row in credentials)
    entry = shown["providers"]["rt"]["credentials"][0]
    assert entry["masked"] == "...7777" and set(entry) == {"id", "masked", "priority"}
    assert shown["secrets_shared"] is False and "only the replica" in shown["note"]
    for answer in (put, added, removed):
        assert RUNTIME_KEY not in answer.text
    assert no_credential.value.status_code == 503
    assert len(upstream.requests) == 1
    for trace in trace_dir.rglob("*.jsonl"):
        assert RUNTIME_KEY not in trace.read_text()


async def test_credentials_of_a_file_provider_are_added_and_removed(upstream, trace_dir):
    app = make_app(upstream, trace_dir)
    client = sdk(app)
    upstream.on_key("sk-file-key-1111", Reply(status=401))
    async with admin_http(app) as admin:
        await admin.post("/rotator/config/providers/file/credentials", json={"key": RUNTIME_KEY})
        await client.chat.completions.create(model="file/m", messages=MESSAGES)
        rows = (await admin.get("/rotator/credentials")).json()["credentials"]
        bad = next(r for r in rows if r["provider"] == "file" and r["credential"] == "...1111" and r["scope"] is None)
        removed = await admin.delete(f"/rotator/config/providers/file/credentials/{bad['id']}")
        upstream.reset()
        await client.chat.completions.create(model="file/m", messages=MESSAGES)
    await client.close()
    await app.aclose()

    assert removed.json()["removed_credentials"] == {"file": [bad["id"]]}
    assert upstream.keys_used() == [RUNTIME_KEY]


async def test_a_scope_is_changed_and_a_new_one_brings_its_own_client_key(upstream, trace_dir):
    app = make_app(upstream, trace_dir)
    async with admin_http(app) as admin:
        changed = await admin.put(
            "/rotator/config/scopes/team", json={"providers": {"file": {"credentials": [TEAM_KEY]}}}
        )
        await sdk(app, SCOPED_KEY).chat.completions.create(model="file/m", messages=MESSAGES)
        created = await admin.put(
            "/rotator/config/scopes/newteam",
            json={"providers": {"file": {"credentials": [RUNTIME_KEY]}}, "api_keys": [NEW_TEAM_KEY]},
        )
        await sdk(app, NEW_TEAM_KEY).chat.completions.create(model="file/m", messages=MESSAGES)
        await admin.delete("/rotator/config/scopes/newteam")
        with pytest.raises(openai.AuthenticationError):
            await sdk(app, NEW_TEAM_KEY).chat.completions.create(model="file/m", messages=MESSAGES)
    await app.aclose()

    assert changed.status_code == 200 and created.status_code == 200
    assert upstream.keys_used() == [TEAM_KEY, RUNTIME_KEY]
    shown = created.json()["scopes"]["newteam"]
    assert shown["api_keys"][0]["masked"] == "...0003" and NEW_TEAM_KEY not in created.text


@pytest.mark.parametrize("key", [PROXY_KEY, SCOPED_KEY, None])
async def test_only_admin_keys_change_the_configuration(upstream, trace_dir, key):
    app = make_app(upstream, trace_dir)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        answers = [
            await http.get("/rotator/config", headers=headers),
            await http.put("/rotator/config/providers/rt", json=PROVIDER, headers=headers),
            await http.post("/rotator/config/providers/file/credentials", json={"key": "sk-x-1234"}, headers=headers),
            await http.delete("/rotator/config/scopes/team", headers=headers),
        ]
        after = (await http.get("/rotator/config", headers=ADMIN)).json()
    await app.aclose()
    assert {a.status_code for a in answers} == ({403} if key else {401})
    assert all(a.json()["error"]["type"] for a in answers)
    assert after["version"] == 0 and after["providers"] == {}


@pytest.mark.parametrize(
    ("method", "path", "body", "param"),
    [
        (
            "PUT",
            "/rotator/config/providers/bad",
            {"protocol": "openai_chat", "base_url": "ftp://x"},
            "providers.bad.base_url",
        ),
        (
            "PUT",
            "/rotator/config/providers/bad",
            {"protocol": "nope", "base_url": "http://u/v1"},
            "providers.bad.protocol",
        ),
        (
            "PUT",
            "/rotator/config/providers/bad",
            {**PROVIDER, "adapters": ["no_such_adapter"]},
            "providers.bad.adapters[0]",
        ),
        ("DELETE", "/rotator/config/providers/file", None, "scopes.team.providers.file"),
        ("DELETE", "/rotator/config/scopes/team", None, "auth.api_keys"),
        (
            "POST",
            "/rotator/config/providers/file/credentials",
            {"key": "sk-file-key-1111"},
            "providers.file.credentials",
        ),
        (
            "PUT",
            "/rotator/config/scopes/x",
            {"providers": {"ghost": {"credentials": ["k-1234567"]}}},
            "scopes.x.providers.ghost",
        ),
    ],
)
async def test_an_invalid_change_is_a_400_naming_the_field_and_changes_nothing(
    upstream, trace_dir, method, path, body, param
):
    app = make_app(upstream, trace_dir)
    async with admin_http(app) as admin:
        answer = await admin.request(method, path, json=body)
        after = (await admin.get("/rotator/config")).json()
        served = await sdk(app).chat.completions.create(model="file/m", messages=MESSAGES)
    await app.aclose()
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param
    assert after["version"] == 0 and after["applied_version"] == 0
    assert served.choices[0].message.content


async def test_unknown_names_are_404_and_bodies_obey_the_size_limit(upstream, trace_dir):
    app = make_app(upstream, trace_dir)
    async with admin_http(app) as admin:
        missing = [
            await admin.delete("/rotator/config/providers/ghost"),
            await admin.delete("/rotator/config/scopes/ghost"),
            await admin.delete("/rotator/config/providers/file/credentials/...zzzz"),
            await admin.post("/rotator/config/providers/ghost/credentials", json={"key": "sk-ghost-1234"}),
        ]
        wrong_method = await admin.post("/rotator/config/providers/file")
        huge = await admin.put("/rotator/config/providers/big", json={**PROVIDER, "headers": {"x": "y" * 100_000}})
    await app.aclose()
    assert [a.status_code for a in missing] == [404, 404, 404, 404]
    assert huge.status_code == 413 and wrong_method.status_code == 405


async def test_requests_in_flight_finish_on_the_configuration_they_started_on(upstream, trace_dir):
    app = make_app(upstream, trace_dir)
    upstream.on_model("slow", Reply(chunk_delay=0.1))
    client = sdk(app)
    async with admin_http(app) as admin:
        stream = await client.chat.completions.create(model="file/slow", messages=MESSAGES, stream=True)
        first = await stream.__anext__()
        await admin.delete("/rotator/config/providers/file/credentials/...1111")
        rest = [chunk async for chunk in stream]
    with pytest.raises(openai.APIStatusError) as after:
        await client.chat.completions.create(model="file/m", messages=MESSAGES)
    await app.aclose()
    assert first.choices and rest[-1].choices[0].finish_reason == "stop"
    assert after.value.status_code == 503


async def test_the_python_api_makes_the_same_changes(upstream, trace_dir):
    app = make_app(upstream, trace_dir)
    put = await app.runtime.put_provider("rt", {**PROVIDER, "credentials": [RUNTIME_KEY]})
    served = await app.acompletion(model="rt/m", messages=MESSAGES)
    with pytest.raises(GatewayError) as invalid:
        await app.runtime.put_provider("rt2", {"protocol": "openai_chat"})
    credential = put["providers"]["rt"]["credentials"][0]["id"]
    await app.runtime.add_credential("rt", {"key": TEAM_KEY, "priority": 2})
    emptied = await app.runtime.remove_credential("rt", credential)
    second = await app.acompletion(model="rt/m", messages=MESSAGES)
    await app.runtime.put_scope("team", {"providers": {"rt": {"credentials": [RUNTIME_KEY]}}})
    scoped = await app.acompletion(model="rt/m", messages=MESSAGES, client_key=SCOPED_KEY)
    reset = await app.runtime.reset()
    view = await app.runtime.view()
    await app.aclose()

    assert served["model"] == "rt/m" and upstream.keys_used() == [RUNTIME_KEY, TEAM_KEY, RUNTIME_KEY]
    assert second["choices"][0]["message"]["content"]
    assert scoped["choices"][0]["message"]["content"]
    assert invalid.value.status == 400 and invalid.value.param == "providers.rt2"
    assert [c["masked"] for c in emptied["providers"]["rt"]["credentials"]] == ["...8888"]
    assert reset["providers"] == {} and reset["scopes"] == {} and view["version"] == reset["version"] == 5
    assert "rt" not in repr(app) and RUNTIME_KEY not in repr(app.runtime)


async def test_a_later_app_on_the_same_backend_starts_with_the_changes(upstream, trace_dir):
    from asgi_rotator.state import MemoryBackend

    backend = MemoryBackend()
    first = RotatorASGI(
        {"providers": {}, "auth": {"admin_keys": [ADMIN_KEY]}},
        backend=backend,
        upstream_transport=httpx.ASGITransport(app=upstream),
    )
    await first.runtime.put_provider("rt", {**PROVIDER, "credentials": ["sk-shared-nowhere-5555"]})
    await first.runtime.put_provider("plain", {**PROVIDER, "auth": "none"})
    later = RotatorASGI(
        {"providers": {}, "auth": {"admin_keys": [ADMIN_KEY]}},
        backend=backend,
        upstream_transport=httpx.ASGITransport(app=upstream),
    )
    answer = await later.acompletion(model="plain/m", messages=MESSAGES, client_key=ADMIN_KEY)
    view = await later.runtime.view()
    await later.aclose()
    await first.aclose()
    assert answer["choices"][0]["message"]["content"]
    assert view["providers"]["rt"]["credentials"] == [
        {"id": view["providers"]["rt"]["credentials"][0]["id"], "available": False}
    ]
