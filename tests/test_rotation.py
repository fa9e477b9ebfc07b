"""Credential rotation, cooldowns and benching, driven through the openai SDK."""

from __future__ import annotations

import collections
import concurrent.futures

import httpx
import openai
import pytest

from asgi_rotator.testing import Reply

from .clock import FakeClock
from .conftest import PROXY_KEY, openai_provider

MESSAGES = [{"role": "user", "content": "hi"}]


def make_client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0)


def credentials(base: str) -> dict[str, dict]:
    rows = httpx.get(base + "/rotator/credentials", headers={"authorization": f"Bearer {PROXY_KEY}"}).json()
    return {row["credential"]: row for row in rows["credentials"]}


def test_balanced_rotation_spreads_load(gateway, fake):
    keys = [f"sk-key-{i}-abcdef" for i in range(4)]
    with make_client(gateway({"providers": {"fake": openai_provider(*keys)}})) as client:
        for _ in range(40):
            client.chat.completions.create(model="fake/m", messages=MESSAGES)
    counts = collections.Counter(fake.keys_used())
    assert set(counts) == set(keys)
    assert all(8 <= n <= 12 for n in counts.values()), counts


def test_rate_limited_key_rests_until_its_cooldown_ends(gateway, fake):
    clock = FakeClock()
    base = gateway({"providers": {"fake": openai_provider("sk-first-aaaa", "sk-second-bbbb")}}, clock=clock)
    fake.on_key("sk-first-aaaa", Reply(status=429, retry_after=30))
    with make_client(base) as client:
        for _ in range(6):  # never fails: the other key takes over
            assert client.chat.completions.create(model="fake/m", messages=MESSAGES).choices[0].message.content
        assert fake.keys_used().count("sk-first-aaaa") == 1
        row = credentials(base)["...aaaa"]
        assert row["state"] == "cooling" and row["reason"] == "rate_limit" and 29 <= row["cooldown_remaining"] <= 30
        fake.on_key("sk-first-aaaa", None)
        clock.advance(31)
        used_before = len(fake.requests)
        for _ in range(4):
            client.chat.completions.create(model="fake/m", messages=MESSAGES)
        assert "sk-first-aaaa" in fake.keys_used()[used_before:]
        assert credentials(base)["...aaaa"]["state"] == "available"


def test_rejected_key_is_benched(gateway, fake):
    base = gateway({"providers": {"fake": openai_provider("sk-revoked-cccc", "sk-good-dddd")}})
    fake.on_key("sk-revoked-cccc", Reply(status=401, error_message="invalid api key"))
    with make_client(base) as client:
        for _ in range(5):
            client.chat.completions.create(model="fake/m", messages=MESSAGES)
    assert fake.keys_used().count("sk-revoked-cccc") == 1
    row = credentials(base)["...cccc"]
    assert row["state"] == "benched" and row["reason"] == "authentication" and row["cooldown_remaining"] > 200


def test_every_key_cooling_answers_503_with_retry_after(gateway, fake):
    base = gateway({"providers": {"fake": openai_provider("sk-one-1111", "sk-two-2222")}})
    fake.on_key("sk-one-1111", Reply(status=429, retry_after=40))
    fake.on_key("sk-two-2222", Reply(status=429, retry_after=50))
    with make_client(base) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="fake/m", messages=MESSAGES)
        assert caught.value.status_code == 503
        assert 39 <= int(caught.value.response.headers["retry-after"]) <= 41
        assert caught.value.response.headers["x-should-retry"] == "false"
        # Now both are cooling: the next request fails at once without reaching the upstream.
        calls = len(fake.requests)
        with pytest.raises(openai.APIStatusError) as again:
            client.chat.completions.create(model="fake/m", messages=MESSAGES)
        assert again.value.status_code == 503 and len(fake.requests) == calls


def test_all_keys_rejected_is_a_502_not_a_401(gateway, fake):
    base = gateway({"providers": {"fake": openai_provider("sk-bad-1111", "sk-bad-2222")}})
    fake.on_key("sk-bad-1111", Reply(status=401))
    fake.on_key("sk-bad-2222", Reply(status=403))
    with make_client(base) as client, pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="fake/m", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert "rejected" in caught.value.message and "sk-bad" not in caught.value.response.text


def test_upstream_error_does_not_leak_the_credential(gateway, fake):
    base = gateway({"providers": {"fake": openai_provider("sk-leaky-secret-9999")}})
    fake.script(Reply(status=400, error_message="bad request for key sk-leaky-secret-9999"))
    with make_client(base) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="fake/m", messages=MESSAGES)
    assert "sk-leaky-secret-9999" not in caught.value.response.text
    assert "...9999" in caught.value.response.text


def test_server_error_moves_to_the_next_credential(gateway, fake):
    base = gateway({"providers": {"fake": openai_provider("sk-a-aaaa", "sk-b-bbbb")}})
    fake.script(Reply(status=500))
    with make_client(base) as client:
        reply = client.chat.completions.with_raw_response.create(model="fake/m", messages=MESSAGES)
    assert reply.parse().choices[0].message.content
    attempts = reply.headers["x-rotator-attempts"]
    assert "server_error" in attempts and attempts.endswith(";ok")


def test_max_concurrency_holds_under_parallel_load(gateway, fake):
    base = gateway({"providers": {"fake": openai_provider({"key": "sk-capped-1111", "max_concurrency": 2})}})
    fake.default = Reply(delay=0.05)
    with make_client(base) as client, concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: client.chat.completions.create(model="fake/m", messages=MESSAGES), range(12)))
    assert len(results) == 12
    assert fake.peak_in_flight == 2


def test_short_cooldown_is_waited_out(gateway, fake):
    base = gateway({"providers": {"fake": openai_provider("sk-only-1111")}})
    fake.script(Reply(status=429, retry_after=0.3))
    with make_client(base) as client:
        reply = client.chat.completions.with_raw_response.create(model="fake/m", messages=MESSAGES)
    assert reply.parse().choices[0].message.content
    assert fake.keys_used() == ["sk-only-1111", "sk-only-1111"]
    assert reply.headers["x-rotator-attempts"].split(", ")[0].endswith("rate_limit")
