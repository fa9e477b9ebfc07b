"""Prometheus series, each PrometheusMetrics in its own registry; a clear error when the extra is missing."""

from __future__ import annotations

import sys

import pytest

from asgi_rotator.errors import MissingDependency
from asgi_rotator.protocols.unified import Usage
from asgi_rotator.usage import PrometheusMetrics


def test_render_contains_the_series() -> None:
    pytest.importorskip("prometheus_client")
    metrics = PrometheusMetrics()
    metrics.observe_request(provider="openai", model="gpt-4.1", outcome="success", latency=1.5, ttfb=0.2)
    metrics.observe_request(provider="openai", model="gpt-4.1", outcome="error")
    metrics.observe_error("rate_limit")
    metrics.observe_usage(
        provider="openai",
        model="gpt-4.1",
        usage=Usage(input_tokens=100, output_tokens=40, cache_read_tokens=20, reasoning_tokens=10),
        cost_usd=0.25,
    )
    metrics.set_credential_states([("openai", "...abcd", "cooling")])
    metrics.set_credential_states([("openai", "...abcd", "ready"), ("openai", "...wxyz", "busy")])

    body, content_type = metrics.render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    for line in (
        'rotator_requests_total{model="gpt-4.1",outcome="success",provider="openai"} 1.0',
        'rotator_requests_total{model="gpt-4.1",outcome="error",provider="openai"} 1.0',
        'rotator_errors_total{kind="rate_limit"} 1.0',
        'rotator_tokens_total{model="gpt-4.1",provider="openai",type="input"} 100.0',
        'rotator_tokens_total{model="gpt-4.1",provider="openai",type="output"} 40.0',
        'rotator_tokens_total{model="gpt-4.1",provider="openai",type="cache_read"} 20.0',
        'rotator_tokens_total{model="gpt-4.1",provider="openai",type="reasoning"} 10.0',
        'rotator_cost_usd_total{model="gpt-4.1",provider="openai"} 0.25',
        'rotator_request_latency_seconds_count{model="gpt-4.1",provider="openai"} 1.0',
        'rotator_request_latency_seconds_sum{model="gpt-4.1",provider="openai"} 1.5',
        'rotator_ttfb_seconds_bucket{le="0.25",model="gpt-4.1",provider="openai"} 1.0',
        'rotator_credential_state{credential="...abcd",provider="openai",state="ready"} 1.0',
        'rotator_credential_state{credential="...wxyz",provider="openai",state="busy"} 1.0',
    ):
        assert line in text, line
    assert 'state="cooling"' not in text


def test_instances_do_not_share_a_registry() -> None:
    pytest.importorskip("prometheus_client")
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.observe_error("timeout")
    assert b'kind="timeout"' in first.render()[0]
    assert b'kind="timeout"' not in second.render()[0]


def test_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # makes the import fail
    metrics = PrometheusMetrics()
    assert not metrics.enabled
    metrics.observe_request(provider="p", model="m", outcome="success", latency=1.0)
    metrics.observe_usage(provider="p", model="m", usage=Usage(input_tokens=1), cost_usd=0.1)
    metrics.set_credential_states([("p", "...abcd", "ready")])
    with pytest.raises(MissingDependency, match=r"asgi-rotator\[metrics\]"):
        metrics.render()
