"""Selection strategies, limits, fair cycle, sessions and tenant scopes, through the official SDKs."""

from __future__ import annotations

import collections
import concurrent.futures
import json

import httpx
import httpx2
import openai
import pytest

from asgi_rotator import RotatorASGI, RotatorConfig
from asgi_rotator.cli import main as cli_main
from asgi_rotator.testing import Reply

from .clock import FakeClock
from .conftest import PROXY_KEY, openai_provider

MESSAGES = [{"role": "user", "content": "hi"}]
KEYS = [f"sk-engine-{i}-{i}{i}{i}{i}" for i in range(4)]


@pytest.fixture
def connect(gateway):
    clients = []

    def make(config, key=PROXY_KEY, **options):
        client = openai.OpenAI(base_url=gateway(config, **options) + "/v1", api_key=key, max_retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def ask(client, messages=MESSAGES, **extra):
    return client.chat.completions.create(model="p/m", messages=messages, **extra)


def test_balanced_spreads_100_requests_within_30_percent(connect, fake):
    client = connect({"providers": {"p": openai_provider(*KEYS)}})
    for _ in range(100):
        ask(client)
    counts = collections.Counter(fake.keys_used())
    assert all(17.5 <= counts[k] <= 32.5 for k in KEYS), counts


def test_sequential_stays_on_one_until_rate_limited(connect, fake):
    client = connect({"providers": {"p": openai_provider(*KEYS, selection="sequential")}})
    for _ in range(10):
        ask(client)
    assert set(fake.keys_used()) == {KEYS[0]}
    fake.on_key(KEYS[0], Reply(status=429, retry_after=60))
    for _ in range(5):
        ask(client)
    later = fake.keys_used()[10:]
    assert later[0] == KEYS[0] and set(later[1:]) == {KEYS[1]}


def test_fair_cycle_gives_every_credential_its_turn(connect, fake):
    clock = FakeClock()
    client = connect({"providers": {"p": openai_provider(*KEYS[:3], selection="sequential")}}, clock=clock)
    for _ in range(2):
        fake.script(Reply(status=429, retry_after=300))  # long enough to exhaust the credential's turn
        ask(client)
        clock.advance(301)  # the rate-limited key has recovered, but it already had its turn
    ask(client)
    # Without the fair cycle the recovered first key would have served the second request.
    assert fake.keys_used() == [KEYS[0], KEYS[1], KEYS[1], KEYS[2], KEYS[2]]
    url = str(client.base_url).removesuffix("v1/") + "rotator/credentials"
    rows = {r["credential"]: r for r in httpx.get(url, headers={"x-api-key": PROXY_KEY}).json()["credentials"]}
    assert rows["...0000"]["fair_cycle"] == "exhausted" and rows["...2222"]["fair_cycle"] == "in_turn"
    assert rows["...2222"]["requests_this_minute"] == 1 and rows["...2222"]["tier"] == 1


def test_a_brief_rate_limit_does_not_spend_a_credentials_fair_cycle_turn(connect, fake):
    clock = FakeClock()
    client = connect({"providers": {"p": openai_provider(*KEYS[:3], selection="sequential")}}, clock=clock)
    for _ in range(2):
        fake.script(Reply(status=429, retry_after=1))
        ask(client)
        clock.advance(2)
    # Below fair_cycle.exhaustion_threshold (300 s) the first key kept its turn: it serves again, not the third.
    assert fake.keys_used() == [KEYS[0], KEYS[1], KEYS[1], KEYS[0]]


def test_concurrency_cap_of_2_holds_under_50_parallel_requests(connect, fake):
    client = connect(
        {"providers": {"p": openai_provider({"key": KEYS[0], "max_concurrency": 2})}, "routing": {"max_wait": 30}}
    )
    fake.default = Reply(delay=0.02)
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(lambda _: ask(client), range(50)))
    assert len(replies) == 50 and fake.peak_in_flight == 2


def test_tier_two_only_when_tier_one_is_unavailable(connect, fake):
    tiered = [{"key": KEYS[0], "priority": 1}, {"key": KEYS[1], "priority": 1}, {"key": KEYS[2], "priority": 2}]
    client = connect({"providers": {"p": openai_provider(*tiered, selection="priority")}})
    for _ in range(10):
        ask(client)
    assert KEYS[2] not in fake.keys_used()
    fake.on_key(KEYS[0], Reply(status=429, retry_after=60))
    fake.on_key(KEYS[1], Reply(status=401))
    ask(client)
    assert fake.keys_used()[-1] == KEYS[2]


def test_model_minimum_tier(connect, fake):
    tiered = [{"key": KEYS[0], "priority": 1}, {"key": KEYS[2], "priority": 2}]
    client = connect({"providers": {"p": openai_provider(*tiered, models={"m": {"min_tier": 1}})}})
    fake.on_key(KEYS[0], Reply(status=429, retry_after=60))
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client)
    assert caught.value.status_code == 503 and KEYS[2] not in fake.keys_used()


def test_rpm_cap_skips_a_credential_for_the_rest_of_its_window(connect, fake):
    clock = FakeClock()
    clock.now = (clock.now // 60) * 60 + 1  # the start of a minute
    capped = openai_provider({"key": KEYS[0], "rpm": 10}, KEYS[1], selection="sequential", caps={"m": {"rpm": "30%"}})
    client = connect({"providers": {"p": capped}}, clock=clock)
    for _ in range(6):
        ask(client)  # never fails: the capped key is skipped, not failed
    assert fake.keys_used() == [KEYS[0]] * 3 + [KEYS[1]] * 3
    clock.advance(120)  # two minutes later the window is empty again: the capped key can serve
    fake.on_key(KEYS[1], Reply(status=429, retry_after=60))
    fake.requests.clear()
    ask(client)
    assert fake.keys_used() == [KEYS[1], KEYS[0]]


def test_the_503_says_when_to_retry_when_every_credential_is_at_its_cap(connect, fake):
    clock = FakeClock()
    clock.now = (clock.now // 60) * 60 + 15  # 45 s before the minute ends
    capped = openai_provider({"key": KEYS[0], "rpm": 1}, {"key": KEYS[1], "max_concurrency": 1})
    client = connect({"providers": {"p": capped}, "routing": {"max_wait": 0}}, clock=clock)
    fake.on_key(KEYS[1], Reply(status=429, retry_after=30))
    ask(client)  # the first key's minute is used up; the second cools for 30 s
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client)
    assert caught.value.status_code == 503 and caught.value.response.headers["retry-after"] == "30"
    fake.default = Reply(delay=1.0)
    only = openai_provider({"key": KEYS[2], "max_concurrency": 1})
    client = connect({"providers": {"p": only}, "routing": {"max_wait": 0}})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(ask, client)  # holds the only slot
        while fake.in_flight == 0:
            pass
        with pytest.raises(openai.APIStatusError) as busy:
            ask(client)
        slow.result()
    assert busy.value.status_code == 503 and busy.value.response.headers["retry-after"] == "1"


def test_quota_group_cooldowns_show_in_the_credential_states(connect, fake):
    grouped = openai_provider(KEYS[0], KEYS[1], selection="sequential", quota_groups={"g": ["m", "m-mini"]})
    client = connect({"providers": {"p": grouped}})
    fake.script(Reply(status=429, retry_after=60))
    ask(client)
    url = str(client.base_url).removesuffix("v1/") + "rotator/credentials"
    rows = {r["credential"]: r for r in httpx.get(url, headers={"x-api-key": PROXY_KEY}).json()["credentials"]}
    cooling = rows["...0000"]["quota_groups"]["g"]
    assert (rows["...0000"]["state"], cooling["state"], cooling["reason"]) == ("available", "cooling", "rate_limit")
    assert 55 < cooling["cooldown_remaining"] <= 60 and rows["...1111"]["quota_groups"] == {}


def test_two_turns_of_a_conversation_share_a_credential_and_conversations_spread(connect, fake):
    client = connect({"providers": {"p": openai_provider(*KEYS)}})
    first_turns = {}
    for i in range(8):
        fake.script(Reply(text=f"answer number {i}"))
        messages = [{"role": "user", "content": f"conversation {i}"}]
        reply = ask(client, messages)
        first_turns[i] = (
            messages + [{"role": "assistant", "content": reply.choices[0].message.content}],
            fake.keys_used()[-1],
        )
    assert len({key for _, key in first_turns.values()}) >= 3  # eight conversations spread
    for i, (history, key) in first_turns.items():
        ask(client, [*history, {"role": "user", "content": "and then?"}])
        assert fake.keys_used()[-1] == key, f"conversation {i} moved"


def test_compacted_conversation_keeps_its_credential(connect, fake):
    client = connect({"providers": {"p": openai_provider(*KEYS)}})
    history = [{"role": "user", "content": "long task"}]
    for turn in range(3):
        fake.script(Reply(text=f"step {turn} done"))
        reply = ask(client, history)
        history += [
            {"role": "assistant", "content": reply.choices[0].message.content},
            {"role": "user", "content": f"next {turn}"},
        ]
    key = fake.keys_used()[-1]
    compacted = [{"role": "user", "content": "Summary of the earlier conversation: steps 0 and 1 done."}, *history[-4:]]
    ask(client, compacted)
    assert fake.keys_used()[-1] == key


def test_explicit_session_ids_stick(connect, fake):
    client = connect({"providers": {"p": openai_provider(*KEYS)}})
    for _ in range(6):
        ask(client, extra_headers={"x-session-id": "session-42"})
    assert len(set(fake.keys_used())) == 1
    fake.requests.clear()
    for _ in range(6):
        ask(client, prompt_cache_key="cache-7")
    assert len(set(fake.keys_used())) == 1


def test_repeated_one_turn_prompts_do_not_pin_a_credential(connect, fake):
    client = connect({"providers": {"p": openai_provider(*KEYS)}})
    for _ in range(12):
        ask(client)  # the same first user message every time is weak evidence
    assert len(set(fake.keys_used())) == 4


def test_scoped_keys_use_only_their_scope_and_global_keys_never_touch_it(connect, fake, gateway):
    config = {
        "providers": {"p": openai_provider(*KEYS[:2])},
        "auth": {"api_keys": [PROXY_KEY, {"key": "team-a-client-key", "scope": "team-a"}]},
        "scopes": {"team-a": {"providers": {"p": {"credentials": ["sk-team-a-only-9999"]}}}},
    }
    base = gateway(config)
    with (
        openai.OpenAI(base_url=base + "/v1", api_key="team-a-client-key", max_retries=0) as team,
        openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as everyone,
    ):
        for _ in range(5):
            ask(team)
        assert set(fake.keys_used()) == {"sk-team-a-only-9999"}
        fake.requests.clear()
        for _ in range(8):
            ask(everyone)
        assert "sk-team-a-only-9999" not in fake.keys_used()
        # The scope's key rate-limited: no fallback to the global pool.
        fake.on_key("sk-team-a-only-9999", Reply(status=429, retry_after=60))
        with pytest.raises(openai.APIStatusError) as caught:
            ask(team)
        assert caught.value.status_code == 503
    scoped = httpx.get(base + "/rotator/credentials", headers={"x-api-key": "team-a-client-key"}).json()
    assert [row["credential"] for row in scoped["credentials"]] == ["...9999"]


def test_scope_may_fall_back_to_global(connect, fake):
    config = {
        "providers": {"p": openai_provider(KEYS[0])},
        "auth": {"api_keys": [{"key": "team-b-client-key", "scope": "team-b"}]},
        "scopes": {"team-b": {"providers": {"p": {"credentials": ["sk-team-b-8888"]}}, "fallback_to_global": True}},
    }
    client = connect(config, key="team-b-client-key")
    fake.on_key("sk-team-b-8888", Reply(status=429, retry_after=60))
    ask(client)
    assert fake.keys_used() == ["sk-team-b-8888", KEYS[0]]


def test_keys_command_prints_the_credential_table(gateway, fake, capsys):
    base = gateway({"providers": {"p": openai_provider(*KEYS[:2])}})
    assert cli_main(["keys", "--url", base, "--key", PROXY_KEY]) == 0
    out = capsys.readouterr().out
    assert "...1111" in out and "available" in out and KEYS[1] not in out


async def test_three_quota_errors_in_a_row_fail_fast():
    keys_used = []
    error = {"message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota"}

    async def out_of_quota(scope, receive, send):  # OpenAI's answer to an account without quota
        keys_used.append(dict(scope["headers"])[b"authorization"])
        await send({"type": "http.response.start", "status": 429, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps({"error": error}).encode()})

    config = {
        "providers": {"p": {**openai_provider(*KEYS), "base_url": "http://up/v1"}},
        "auth": {"api_keys": [PROXY_KEY]},
    }
    app = RotatorASGI(config, upstream_transport=httpx.ASGITransport(app=out_of_quota))
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    async with openai.AsyncOpenAI(
        base_url="http://gw/v1", api_key=PROXY_KEY, http_client=http, max_retries=0
    ) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="p/m", messages=MESSAGES)
    await app.shutdown()
    assert len(keys_used) == 3  # the fourth key is not burnt on a request too big for the quota
    assert "3 credentials in a row reported their quota exhausted" in caught.value.message


def test_a_key_limited_on_three_models_is_locked_out_for_five_minutes(connect, fake):
    clock = FakeClock()
    client = connect({"providers": {"p": openai_provider(KEYS[0], KEYS[1], selection="sequential")}}, clock=clock)
    fake.on_key(KEYS[0], Reply(status=429, retry_after=1))
    for model in ("m1", "m2", "m3"):
        client.chat.completions.create(model=f"p/{model}", messages=MESSAGES)
        clock.advance(2)  # each short cooldown is over before the next model is tried
    url = str(client.base_url).removesuffix("v1/") + "rotator/credentials"
    rows = {r["credential"]: r for r in httpx.get(url, headers={"x-api-key": PROXY_KEY}).json()["credentials"]}
    locked = rows["...0000"]
    assert (locked["state"], locked["reason"]) == ("locked", "limited on 3 models")
    assert 295 < locked["cooldown_remaining"] <= 298


def test_caps_per_tier_win_over_untiered_ones(connect, fake):
    clock = FakeClock()
    clock.now = (clock.now // 60) * 60 + 1
    tiers = openai_provider(
        KEYS[0],
        {"key": KEYS[1], "priority": 2},
        {"key": KEYS[2], "priority": 4},
        selection="priority",
        caps={"m": {"rpm": 2}, "t2:m": {"rpm": 1}, "t1-3:*": {"rpm": 3}},
    )
    client = connect({"providers": {"p": tiers}, "routing": {"max_wait": 0}}, clock=clock)
    for _ in range(6):
        ask(client)
    with pytest.raises(openai.APIStatusError):
        ask(client)
    # Tier 1 has the tiers' "*" cap (3), tier 2 its own "t2:m" (1), tier 4 only the untiered "m" (2).
    assert fake.keys_used() == [KEYS[0]] * 3 + [KEYS[1]] + [KEYS[2]] * 2


def test_a_cap_cooldown_keeps_a_capped_key_out_past_its_window(connect, fake):
    clock = FakeClock()
    clock.now = (clock.now // 60) * 60 + 1
    capped = openai_provider(KEYS[0], KEYS[1], selection="sequential", caps={"m": {"rpm": 2, "cooldown": "fixed:600"}})
    client = connect({"providers": {"p": capped}}, clock=clock)
    for _ in range(2):
        ask(client)
    clock.advance(120)  # the minute window is long over; the cap's fixed cooldown is not
    ask(client)
    assert fake.keys_used() == [KEYS[0], KEYS[0], KEYS[1]]
    url = str(client.base_url).removesuffix("v1/") + "rotator/credentials"
    rows = {r["credential"]: r for r in httpx.get(url, headers={"x-api-key": PROXY_KEY}).json()["credentials"]}
    assert (rows["...0000"]["state"], rows["...0000"]["reason"]) == ("capped", "cap_reached")
    assert rows["...0000"]["fair_cycle"] == "exhausted"  # 600 s is past the exhaustion threshold
    with pytest.raises(ValueError, match="cap cooldown"):
        RotatorConfig.model_validate(
            {"providers": {"p": {**capped, "base_url": "http://up/v1", "caps": {"m": {"cooldown": "later"}}}}}
        )
