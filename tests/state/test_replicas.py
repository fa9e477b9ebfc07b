"""Two gateway processes on loopback sharing one Redis: cooldowns, concurrency caps and dead replicas."""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import httpx
import openai
import pytest

from asgi_rotator.testing import Reply

from ..conftest import PROXY_KEY

pytestmark = pytest.mark.redis
REDIS_URL = os.environ.get("ROTATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MESSAGES = [{"role": "user", "content": "hi"}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Replica:
    """One ``asgi-rotator serve`` process."""

    def __init__(self, config_path: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "asgi_rotator.cli",
                "serve",
                "--config",
                config_path,
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(self.url + "/rotator/health", timeout=0.5)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("replica did not start") from None
                time.sleep(0.1)

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=PROXY_KEY, max_retries=0)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(10)
        assert self.process.stderr is not None
        self.process.stderr.close()


@pytest.fixture
def replicas(fake, tmp_path):
    started: list[Replica] = []

    def start(provider: dict, count: int = 2, extra: dict | None = None, **state) -> list[Replica]:
        config = {
            "providers": {"p": {"protocol": "openai_chat", "base_url": fake.url + "/v1", **provider}},
            "auth": {"api_keys": [PROXY_KEY]},
            "state": {"backend": "redis", "url": REDIS_URL, "prefix": f"test-{uuid.uuid4().hex[:8]}:", **state},
            **(extra or {}),
        }
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        for _ in range(count):
            started.append(Replica(str(path)))
        return started[-count:]

    yield start
    for replica in started:
        replica.stop()


def test_a_cooldown_set_through_one_replica_is_honoured_by_the_other(replicas, fake):
    a, b = replicas({"credentials": ["sk-shared-aaaa", "sk-shared-bbbb"], "selection": "sequential"})
    fake.on_key("sk-shared-aaaa", Reply(status=429, retry_after=60))
    with a.client() as client:
        client.chat.completions.create(model="p/m", messages=MESSAGES)
    assert fake.keys_used() == ["sk-shared-aaaa", "sk-shared-bbbb"]
    fake.requests.clear()
    with b.client() as client:
        for _ in range(4):
            client.chat.completions.create(model="p/m", messages=MESSAGES)
    assert fake.keys_used() == ["sk-shared-bbbb"] * 4
    rows = httpx.get(b.url + "/rotator/credentials", headers={"x-api-key": PROXY_KEY}).json()["credentials"]
    assert {r["credential"]: r["state"] for r in rows} == {"...aaaa": "cooling", "...bbbb": "available"}


def test_max_concurrency_holds_across_replicas(replicas, fake):
    a, b = replicas({"credentials": [{"key": "sk-capped-cccc", "max_concurrency": 2}]})
    fake.default = Reply(delay=0.1)
    clients = [a.client(), b.client()]
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        replies = list(
            pool.map(lambda i: clients[i % 2].chat.completions.create(model="p/m", messages=MESSAGES), range(20))
        )
    for client in clients:
        client.close()
    assert len(replies) == 20 and fake.peak_in_flight == 2


def test_a_killed_replicas_lease_frees_itself(replicas, fake):
    a, b = replicas({"credentials": [{"key": "sk-single-dddd", "max_concurrency": 1}]}, lease_ttl=2)
    fake.default = Reply(delay=30)

    def stuck_request() -> None:
        with a.client() as client, pytest.raises(openai.APIConnectionError):
            client.chat.completions.create(model="p/m", messages=MESSAGES, timeout=20)

    thread = threading.Thread(target=stuck_request)
    thread.start()
    deadline = time.monotonic() + 5
    while fake.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    a.stop(signal.SIGKILL)  # dies holding the only slot
    thread.join(10)
    fake.default = Reply()
    started = time.monotonic()
    with b.client() as client:
        reply = client.chat.completions.create(model="p/m", messages=MESSAGES)  # waits for the lease to expire
    assert reply.choices[0].message.content
    assert time.monotonic() - started < 4


def test_a_response_stored_through_one_replica_is_retrieved_and_continued_through_the_other(replicas, fake):
    a, b = replicas({"credentials": ["sk-shared-eeee"]})
    with a.client() as client:
        first = client.responses.create(model="p/m", input="remember the word 'lantern'")
    fake.script(Reply(text="lantern"))
    with b.client() as client:
        assert client.responses.retrieve(first.id).output_text == first.output_text
        second = client.responses.create(model="p/m", input="which word?", previous_response_id=first.id)
        assert second.output_text == "lantern"
    sent = fake.requests[-1].request
    assert [m.text for m in sent.messages if m.role == "user"] == ["remember the word 'lantern'", "which word?"]


def test_provider_state_kept_by_one_replica_is_injected_by_the_other(replicas, fake):
    """The built-in Gemini rule and a declarative `all` rule store through Redis, so any replica continues."""
    remember_questions = {
        "name": "asked",
        "source": "unified_request",
        "path": "messages[-1].parts[0].text",
        "mode": "all",
        "inject": {"path": "x_asked"},
    }
    a, b = replicas(
        {
            "protocol": "gemini",
            "base_url": fake.url,
            "credentials": ["sk-shared-ffff"],
            "field_cache": [remember_questions],
        }
    )
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
    session = {"x-session-id": "replica-conversation"}
    messages = [{"role": "user", "content": "look it up"}]
    fake.script(Reply(text="", reasoning="thinking", tool_calls=[("lookup", {})]), Reply(text="done"))
    with a.client() as client:
        first = client.chat.completions.create(model="p/m", messages=messages, tools=tools, extra_headers=session)
    call = first.choices[0].message.tool_calls[0]
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "found it"},
    ]
    with b.client() as client:
        client.chat.completions.create(model="p/m", messages=messages, tools=tools, extra_headers=session)
    sent = fake.requests[-1]
    model_turn = next(c for c in sent.body["contents"] if c["role"] == "model")
    assert next(p for p in model_turn["parts"] if "functionCall" in p)["thoughtSignature"] == Reply.signature
    assert sent.body["x_asked"] == ["look it up"]


@pytest.mark.parametrize("count", [1, 3])
def test_bursts_land_exactly_on_rpm_daily_and_budget_caps(replicas, fake, count):
    """60 concurrent requests per cap, spread over the replicas: exactly the cap is served, the rest refused."""
    budget_key = "sk-proxy-budget-0000"
    providers = {
        name: {"protocol": "openai_chat", "base_url": fake.url + "/v1", "credentials": [credential]}
        for name, credential in {
            "rpm": {"key": "sk-burst-rpm-1111", "rpm": 10},
            "daily": {"key": "sk-burst-day-2222", "daily": 5},
        }.items()
    }
    extra = {
        "providers": {**providers, "free": {**providers["rpm"], "credentials": ["sk-burst-free-3333"]}},
        "auth": {"api_keys": [PROXY_KEY, {"key": budget_key, "budget": {"requests": 7}}]},
        "routing": {"max_wait": 0},
    }
    started = replicas({"credentials": ["sk-unused-4444"]}, count=count, extra=extra)
    fake.default = Reply(delay=0.05)
    http = httpx.Client(limits=httpx.Limits(max_connections=64))  # one client: a new one per call is slow

    def burst(model: str, key: str = PROXY_KEY) -> collections.Counter[int]:
        def one(i: int) -> int:
            reply = http.post(
                started[i % count].url + "/v1/chat/completions",
                json={"model": model, "messages": MESSAGES},
                headers={"authorization": f"Bearer {key}"},
                timeout=30,
            )
            return reply.status_code

        with concurrent.futures.ThreadPoolExecutor(30) as pool:
            return collections.Counter(pool.map(one, range(60)))

    assert burst("rpm/m") == {200: 10, 503: 50}
    assert burst("daily/m") == {200: 5, 503: 55}
    assert burst("free/m", budget_key) == {200: 7, 429: 53}
    http.close()


def usage_of(replica: Replica) -> dict:
    return httpx.get(replica.url + "/rotator/usage", headers={"x-api-key": PROXY_KEY}).json()


def test_usage_counted_by_one_replica_shows_on_it_at_once_and_on_the_other_within_a_second_or_two(replicas, fake):
    a, b = replicas({"credentials": ["sk-usage-eeee"]})
    with a.client() as client:
        for _ in range(5):
            client.chat.completions.create(model="p/m", messages=MESSAGES)
    first = usage_of(a)  # a report writes its own replica's sums before it reads
    assert first["totals"]["requests"] == 5 and first["totals"]["input_tokens"] > 0
    deadline = time.monotonic() + 3
    while usage_of(b)["totals"]["requests"] != 5:
        assert time.monotonic() < deadline, usage_of(b)["totals"]
        time.sleep(0.1)
    with b.client() as client:
        client.chat.completions.create(model="p/m", messages=MESSAGES)
    b.stop()  # a replica that shuts down writes what it still held
    last = usage_of(a)
    assert last["totals"]["requests"] == 6
    assert last["by_model"]["p/m"]["input_tokens"] == first["totals"]["input_tokens"] // 5 * 6
