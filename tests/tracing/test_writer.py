"""The trace writer: off costs nothing, on writes one redacted JSONL file per request, and never raises."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from asgi_rotator.config.models import TraceConfig
from asgi_rotator.tracing import REDACTED, TraceWriter

SECRET = "sk-ant-0123456789abcdef"


def writer(tmp_path: Path, **options: object) -> TraceWriter:
    return TraceWriter(TraceConfig(enabled=True, dir=str(tmp_path / "traces"), **options), secrets=[SECRET])


async def test_a_disabled_writer_hands_out_no_trace(tmp_path: Path) -> None:
    off = TraceWriter(TraceConfig(enabled=False, dir=str(tmp_path)), secrets=[SECRET])
    assert off.begin("req-1", protocol="openai_chat") is None
    assert list(tmp_path.iterdir()) == []


async def test_entries_are_written_once_and_read_back_in_pass_order(tmp_path: Path) -> None:
    w = writer(tmp_path)
    trace = w.begin("req-1", protocol="openai_chat")
    assert trace is not None
    messages = [{"role": "user", "content": "hi"}]
    body = {"model": "anthropic/claude", "messages": messages}
    trace.record("raw_client_request", body)
    trace.record("parsed_unified_request", {"model": "claude"})
    trace.provider, trace.model = "anthropic", "claude"
    trace.record(
        "provider_request",
        {"url": "https://api.anthropic.com/v1/messages", "headers": {"x-api-key": SECRET}},
        component="provider",
        credential="...cdef",
        attempt=1,
    )
    messages.clear()  # recorded payloads are snapshots
    trace.record("raw_provider_response", {"error": f"invalid x-api-key {SECRET}"}, direction="response")
    trace.error("parsed_unified_response", ValueError(f"bad body for key {SECRET}"), component="provider")
    assert not (tmp_path / "traces").exists()  # nothing touches the disk before close
    await trace.close()
    await trace.close()
    trace.record("late", {})

    entries = await w.read("req-1")
    assert entries is not None
    assert [e["pass_name"] for e in entries] == [
        "raw_client_request",
        "parsed_unified_request",
        "provider_request",
        "raw_provider_response",
        "transform_log_error",
    ]
    assert [e["sequence"] for e in entries] == [1, 2, 3, 4, 5]
    first, provider, error = entries[0], entries[2], entries[4]
    assert first["data"]["messages"] == [{"role": "user", "content": "hi"}]
    assert first["request_id"] == "req-1" and first["protocol"] == "openai_chat" and first["transport"] == "http"
    assert first["provider"] is None and first["timestamp_utc"].endswith("+00:00")
    assert provider["component"] == "provider" and provider["provider"] == "anthropic"
    assert provider["credential_id"] == "...cdef" and provider["metadata"] == {"attempt": 1}
    assert provider["data"]["headers"]["x-api-key"] == REDACTED
    assert error["direction"] == "error"
    assert error["data"]["failed_pass"] == "parsed_unified_response"
    assert error["data"]["error_type"] == "ValueError"
    assert error["data"]["error"] == f"bad body for key {REDACTED}"
    assert SECRET not in (tmp_path / "traces" / "req-1.jsonl").read_text()


async def test_sampled_stream_capture_keeps_the_first_and_every_nth(tmp_path: Path) -> None:
    w = writer(tmp_path, stream_capture="sampled", sample_every=3)
    trace = w.begin("req-s", protocol="gemini")
    assert trace is not None
    for i in range(7):
        trace.record("raw_provider_stream_event", {"i": i}, direction="stream", component="provider")
    trace.record("final_client_response", {"status": 200}, direction="response")
    await trace.close()
    entries = await w.read("req-s")
    assert entries is not None
    streamed = [e for e in entries if e["direction"] == "stream"]
    assert [e["data"]["i"] for e in streamed] == [0, 3, 6]
    assert [e["metadata"]["stream_index"] for e in streamed] == [1, 4, 7]
    assert entries[-1]["pass_name"] == "stream_sampling_summary"
    assert entries[-1]["data"]["stream_events_seen"] == {"raw_provider_stream_event": 7}


async def test_entries_past_the_byte_limit_are_dropped_and_counted(tmp_path: Path) -> None:
    w = writer(tmp_path, max_bytes_per_request=2048)
    trace = w.begin("req-big")
    assert trace is not None
    trace.record("raw_client_request", {"text": "x" * 100})
    trace.record("provider_request", {"text": "x" * 4096})
    trace.record("final_client_response", {"status": 200})
    await trace.close()
    entries = await w.read("req-big")
    assert entries is not None
    assert [e["pass_name"] for e in entries] == ["raw_client_request", "final_client_response", "trace_truncated"]
    assert entries[-1]["data"]["dropped_entries"] == 1


async def test_an_unwritable_dir_is_logged_once_and_turns_tracing_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the trace directory should be")
    w = TraceWriter(TraceConfig(enabled=True, dir=str(blocker / "traces")), secrets=[SECRET])
    first, second = w.begin("req-a"), w.begin("req-b")
    assert first is not None and second is not None
    first.record("raw_client_request", {"authorization": SECRET})
    second.record("raw_client_request", {})
    with caplog.at_level(logging.ERROR, logger="asgi_rotator"):
        await first.close()
        await second.close()
    errors = [r for r in caplog.records if r.name == "asgi_rotator" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "tracing is now off" in errors[0].getMessage()
    assert SECRET not in caplog.text
    assert w.enabled is False
    assert w.begin("req-c") is None


@pytest.mark.parametrize("request_id", ["../outside", "..", "a/b", "", "x" * 129, "id\n", "C:\\x", "%2e%2e"])
async def test_ids_that_are_not_plain_names_are_rejected(tmp_path: Path, request_id: str) -> None:
    (tmp_path / "outside.jsonl").write_text('{"pass_name": "leaked"}\n')
    w = writer(tmp_path)
    assert await w.read(request_id) is None
    assert w.begin(request_id) is None


async def test_reading_a_missing_trace_is_none(tmp_path: Path) -> None:
    assert await writer(tmp_path).read("never-written") is None
