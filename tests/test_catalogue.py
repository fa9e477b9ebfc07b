"""The provider catalogue through the official SDKs: presets, an env-only setup, `_API_BASE`, a dynamic provider,
a keyless upstream, an Azure deployment, and model addressing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import httpx2
import openai
import pytest

from asgi_rotator import ConfigError, RotatorASGI, load_config
from asgi_rotator.catalogue import PRESETS, all_presets, subscriptions
from asgi_rotator.config.models import ProviderConfig
from asgi_rotator.http.asgi import read_body
from asgi_rotator.testing import FakeUpstream, Reply

from .catalogue_upstreams import Hosts, ListingUpstream, openai_pages
from .conftest import PROXY_KEY
from .golden import golden

MESSAGES = [{"role": "user", "content": "hi"}]


def gateway(config: Any, upstream: Any) -> RotatorASGI:
    return RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=upstream))


def sdk(app: RotatorASGI, key: str = PROXY_KEY) -> openai.AsyncOpenAI:
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key=key, http_client=client, max_retries=0)


# -- presets -------------------------------------------------------------------------------------------------


def test_every_preset_is_a_valid_provider_with_valid_adapters():
    providers = {
        name: {"preset": name, "base_url": fields["base_url"].replace("{resource}", "contoso"), "credentials": ["k"]}
        for name, fields in all_presets().items()
    }
    app = RotatorASGI({"providers": providers})  # validates every adapter's config against the registry
    assert app.config.providers["mistral"].adapters[0].name == "suppress_developer_role"
    assert {"openai", "anthropic", "gemini", "cohere", "dashscope", "ollama", "vllm", "azure"} <= set(PRESETS)


def test_explicit_fields_win_and_mappings_merge():
    provider = load_config(
        {
            "providers": {
                "az": {
                    "preset": "azure",
                    "base_url": "https://contoso.openai.azure.com/openai/deployments/{model}",
                    "query": {"extra": "1"},
                    "credentials": ["azure-key-0001"],
                },
            }
        }
    ).providers["az"]
    assert provider.query == {"api-version": "2024-10-21", "extra": "1"}
    assert (provider.protocol, provider.auth, provider.auth_header) == ("openai_chat", "custom", "api-key")
    mistral = ProviderConfig.model_validate({"preset": "mistral", "adapters": []})
    assert mistral.adapters == [] and mistral.base_url == "https://api.mistral.ai/v1"


def test_bad_presets_and_auth_fail_with_the_field_named():
    with pytest.raises(ConfigError, match=r"providers\.x: .*unknown preset 'nope'; known presets: .*openai"):
        load_config({"providers": {"x": {"preset": "nope"}}})
    with pytest.raises(ConfigError, match=r"replace the placeholder \{resource\}"):
        load_config({"providers": {"az": {"preset": "azure", "credentials": ["k"]}}})
    with pytest.raises(ConfigError, match="auth: none sends no key"):
        load_config({"providers": {"o": {"protocol": "openai_chat", "base_url": "http://o/v1", "auth": "none",
                                         "credentials": ["k"]}}})  # fmt: skip
    with pytest.raises(ConfigError, match="looks like a secret"):
        load_config({"providers": {"o": {"preset": "openai", "query": {"api_key": "x"}}}})


def test_a_keyless_preset_given_a_key_sends_it():
    assert ProviderConfig.model_validate({"preset": "vllm", "credentials": ["k"]}).auth is None
    assert ProviderConfig.model_validate({"preset": "vllm"}).auth == "none"


def test_subscription_presets_are_looked_up_too(monkeypatch):
    monkeypatch.setitem(
        subscriptions.SUBSCRIPTION_PRESETS, "claude_code", {"protocol": "anthropic_messages", "base_url": "https://a"}
    )
    assert ProviderConfig.model_validate({"preset": "claude_code"}).protocol == "anthropic_messages"


# -- the environment -----------------------------------------------------------------------------------------


async def test_a_dotenv_alone_configures_a_preset_with_its_key_filters_and_client_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "OPENAI_API_KEY=sk-env-openai-0001\nOPENAI_API_KEY_2=sk-env-openai-0002\nPROXY_API_KEY=proxy-env-0001\n"
        "IGNORE_MODELS_OPENAI=model-id-2\n"
    )
    openai_up = ListingUpstream(openai_pages())
    app = gateway(None, Hosts(api_openai_com=openai_up))
    assert len(app.config.providers["openai"].credentials) == 2
    async with sdk(app, "proxy-env-0001") as client:
        await client.chat.completions.create(model="openai/gpt-4o", messages=MESSAGES)
        listed = [m.id async for m in client.models.list()]
    async with sdk(app, "wrong-key") as client:
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
    await app.shutdown()
    sent = openai_up.chat.requests[0]
    assert (sent.path, sent.body["model"]) == ("/v1/chat/completions", "gpt-4o")
    assert sent.key in {"sk-env-openai-0001", "sk-env-openai-0002"}
    assert listed == ["openai/model-id-0", "openai/model-id-1"]
    assert openai_up.seen[0].headers["authorization"] == "Bearer sk-env-openai-0001"  # discovery: the first key


async def test_api_base_overrides_a_preset_and_makes_a_keyless_dynamic_provider(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk-env-0001")
    monkeypatch.setenv("GROQ_API_BASE", "http://groq.internal/v1")
    monkeypatch.setenv("LOCALAI_API_BASE", "http://localai.internal/v1")
    monkeypatch.setenv("PROXY_API_KEY", PROXY_KEY)
    groq, local = ListingUpstream(openai_pages()), ListingUpstream(openai_pages())
    app = gateway(None, Hosts(groq_internal=groq, localai_internal=local))
    assert set(app.config.providers) == {"groq", "localai"}
    async with sdk(app) as client:
        await client.chat.completions.create(model="groq/llama-3.3-70b", messages=MESSAGES, logprobs=True)
        await client.chat.completions.create(model="localai/qwen3", messages=MESSAGES)
        listed = [m.id async for m in client.models.list()]
    await app.shutdown()
    to_groq, to_local = groq.chat.requests[0], local.chat.requests[0]
    assert (to_groq.path, to_groq.key) == ("/v1/chat/completions", "gsk-env-0001")
    assert "logprobs" not in to_groq.body  # the groq preset's quirk: it answers 400 to logprobs
    assert to_local.key is None and "authorization" not in to_local.headers
    assert {"groq/model-id-0", "localai/model-id-0"} <= set(listed)


# -- keyless upstreams ---------------------------------------------------------------------------------------


async def test_a_keyless_upstream_works_without_a_credential_and_still_cools_down():
    upstream = FakeUpstream()
    config = {
        "providers": {"local": {"preset": "ollama", "base_url": "http://ollama.local/v1"}},
        "auth": {"api_keys": [PROXY_KEY]},
    }
    app = gateway(config, upstream)
    async with sdk(app) as client:
        answer = await client.chat.completions.create(model="local/llama3:8b", messages=MESSAGES)
        upstream.script(Reply(status=429, retry_after=120))
        with pytest.raises(openai.APIStatusError):
            await client.chat.completions.create(model="local/llama3:8b", messages=MESSAGES)
        with pytest.raises(openai.APIStatusError) as resting:
            await client.chat.completions.create(model="local/llama3:8b", messages=MESSAGES)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gw") as plain:
        states = (await plain.get("/rotator/credentials", headers={"x-api-key": PROXY_KEY})).json()["credentials"]
    await app.shutdown()
    assert answer.choices[0].message.content and len(upstream.requests) == 2
    assert upstream.requests[0].key is None and "authorization" not in upstream.requests[0].headers
    assert resting.value.status_code == 503 and int(resting.value.response.headers["retry-after"]) > 60
    assert [(s["credential"], s["state"]) for s in states] == [("anonymous", "cooling")]


# -- path-templated upstreams (Azure) ------------------------------------------------------------------------


class FakeAzure:
    """An Azure OpenAI deployment endpoint: records the path, query and headers, answers a real Chat response."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = await read_body(receive, limit=1 << 30)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.seen.append(
            {
                "raw_path": scope["raw_path"],
                "query": scope["query_string"],
                "headers": headers,
                "body": json.loads(body),
            }
        )
        answer = json.dumps(golden("openai_chat/azure_response")["body"]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})


async def test_an_azure_deployment_gets_its_path_query_and_api_key_header():
    azure = FakeAzure()
    config = {
        "providers": {
            "az": {
                "preset": "azure",
                "base_url": "https://contoso.openai.azure.com/openai/deployments/{model}",
                "credentials": ["azure-key-0001"],
            }
        },
        "auth": {"api_keys": [PROXY_KEY]},
    }
    app = gateway(config, Hosts(contoso_openai_azure_com=azure))
    async with sdk(app) as client:
        answer = await client.chat.completions.create(model="az/gpt-4o-prod", messages=MESSAGES)
        await client.chat.completions.create(model="az/team/prod", messages=MESSAGES)
    await app.shutdown()
    first, second = azure.seen
    assert first["raw_path"] == b"/openai/deployments/gpt-4o-prod/chat/completions"
    assert first["query"] == b"api-version=2024-10-21"
    assert first["headers"]["api-key"] == "azure-key-0001" and "authorization" not in first["headers"]
    assert second["raw_path"] == b"/openai/deployments/team%2Fprod/chat/completions"  # the name cannot add a path
    assert answer.choices[0].message.content.startswith("Ahoy matey!") and answer.usage.completion_tokens == 557


# -- model addressing ----------------------------------------------------------------------------------------


async def test_an_unknown_provider_prefix_is_a_404_never_a_bare_name():
    upstream = FakeUpstream()
    config = {
        "providers": {"up": {"protocol": "openai_chat", "base_url": "http://up/v1", "credentials": ["sk-up-0001"]}},
        "auth": {"api_keys": [PROXY_KEY]},
    }
    app = gateway(config, upstream)
    async with sdk(app) as client:
        with pytest.raises(openai.NotFoundError) as unknown:
            await client.chat.completions.create(model="meta-llama/llama-3", messages=MESSAGES)
        bare = await client.chat.completions.with_raw_response.create(model="gpt-x", messages=MESSAGES)
    await app.shutdown()
    assert "known providers: up" in unknown.value.message
    assert bare.headers["x-rotator-provider"] == "up/gpt-x" and [r.model for r in upstream.requests] == ["gpt-x"]


def test_azure_from_the_environment_needs_its_base(monkeypatch):
    monkeypatch.setenv("AZURE_API_KEY", "azure-key-0001")
    assert "azure" not in load_config().providers  # a key alone cannot say which resource
    monkeypatch.setenv("AZURE_API_BASE", "https://contoso.openai.azure.com/openai/deployments/{model}")
    azure = load_config().providers["azure"]
    assert (azure.auth_header, azure.query, len(azure.credentials)) == ("api-key", {"api-version": "2024-10-21"}, 1)


async def test_the_mistral_preset_sends_what_mistrals_strict_validation_accepts():
    upstream = FakeUpstream()
    config = {
        "providers": {"mistral": {"preset": "mistral", "base_url": "http://mistral.test/v1", "credentials": ["m-1"]}},
        "auth": {"api_keys": [PROXY_KEY]},
    }
    app = gateway(config, upstream)
    async with sdk(app) as client:
        stream = await client.chat.completions.create(
            model="mistral/mistral-large-latest",
            messages=[{"role": "developer", "content": "be brief"}, *MESSAGES],
            seed=7,
            user="u-1",
            stream=True,
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    await app.shutdown()
    body = upstream.requests[0].body
    assert text and body["messages"][0]["role"] == "system" and body["random_seed"] == 7
    assert not {"seed", "user", "stream_options"} & set(body)
