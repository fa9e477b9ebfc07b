"""The trace writer: one request's passes buffered in memory, redacted, and written as one JSONL file.

Recording is cheap and synchronous (a redacted copy serialized to bytes, so later changes to the payload do not
show); the file is written once, when the request ends, in a worker thread. A disabled writer hands out no
trace at all, so the hot path pays one ``if``. Nothing here raises into a request: a disk error turns tracing
off for the process and is logged once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from ..config.models import TraceConfig
from .redaction import Redactor

logger = logging.getLogger("asgi_rotator")

Direction = Literal["request", "response", "stream", "error", "metadata"]
Component = Literal["client", "provider"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_DUMPS_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def valid_request_id(value: str) -> bool:
    """Whether ``value`` may name a trace file: 1 to 128 of ``A-Z a-z 0-9 _ . -``, not all dots, so never a path."""
    return _REQUEST_ID.fullmatch(value) is not None and value.strip(".") != ""


class TraceWriter:
    """Hands out per-request traces and writes them under ``config.dir`` as ``<request_id>.jsonl``.

    Args:
        config: the ``trace`` section of the configuration.
        secrets: values that must never reach a trace file (configured credentials, client keys); every
            occurrence is replaced by ``"[redacted]"``, in addition to redaction by key name.
    """

    def __init__(self, config: TraceConfig, secrets: Iterable[str] = ()) -> None:
        self.config = config
        self.enabled = config.enabled
        self.dir = Path(config.dir)
        self.redactor = Redactor(secrets, show_reasoning=config.show_reasoning)
        self._dir_ready = False
        self._failure_logged = False
        self._record_failure_logged = False

    def begin(
        self,
        request_id: str,
        *,
        protocol: str | None = None,
        transport: str = "http",
        session_id: str | None = None,
    ) -> RequestTrace | None:
        """Start the trace of one request, or return None when tracing is off or ``request_id`` is unusable.

        Args:
            request_id: names the file; see :func:`valid_request_id`.
            protocol: the client protocol, when known (it can be set later on the trace).
            transport: ``http`` or ``websocket``.
            session_id: the session, when known (it can be set later on the trace).
        """
        if not self.enabled:
            return None
        if not valid_request_id(request_id):
            logger.debug("not tracing a request whose id cannot name a file")
            return None
        return RequestTrace(self, request_id, protocol=protocol, transport=transport, session_id=session_id)

    async def read(self, request_id: str, *, owner: str | None = None) -> list[dict[str, Any]] | None:
        """The entries of one request's trace in the order they were recorded, or None if there is none.

        With ``owner``, a trace that belongs to someone else is None too (indistinguishable from a missing one,
        so ids cannot be probed). An id that could not have named a trace file is None.
        """
        if not valid_request_id(request_id):
            return None
        try:
            blob = await asyncio.to_thread((self.dir / f"{request_id}.jsonl").read_bytes)
        except (OSError, ValueError):
            return None
        entries: list[dict[str, Any]] = []
        for line in blob.splitlines():
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a line cut short by a crash mid-write
            if isinstance(item, dict):
                entries.append(item)
        if owner is not None and not any(entry.get("owner") == owner for entry in entries):
            return None
        return entries

    async def _write(self, request_id: str, blob: bytes) -> None:
        try:
            await asyncio.to_thread(self._append, self.dir / f"{request_id}.jsonl", blob)
        except Exception as exc:  # a trace must never fail the request it describes
            self._fail(exc)

    def _append(self, path: Path, blob: bytes) -> None:
        if not self._dir_ready:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dir_ready = True
        # Appending, so a client that repeats an x-request-id adds to a trace instead of erasing it.
        with path.open("ab") as file:
            file.write(blob)

    def _fail(self, exc: BaseException) -> None:
        self.enabled = False
        if not self._failure_logged:
            self._failure_logged = True
            logger.error("Cannot write trace files under %s (%s); tracing is now off.", self.dir, exc)

    def _record_failed(self, pass_name: str, exc: BaseException) -> None:
        if not self._record_failure_logged:
            self._record_failure_logged = True
            logger.warning("Dropped the trace entry %r: %s: %s", pass_name, type(exc).__name__, exc)


class RequestTrace:
    """The trace of one request. ``protocol``, ``session_id``, ``provider``, ``model`` and ``credential`` may be set
    as they become known; the last three are the defaults of :meth:`record`.
    """

    __slots__ = (
        "_writer",
        "request_id",
        "protocol",
        "transport",
        "session_id",
        "owner",
        "provider",
        "model",
        "credential",
        "_entries",
        "_size",
        "_sequence",
        "_started",
        "_stream_seen",
        "_dropped",
        "_closed",
    )

    def __init__(
        self,
        writer: TraceWriter,
        request_id: str,
        *,
        protocol: str | None,
        transport: str,
        session_id: str | None,
    ) -> None:
        self._writer = writer
        self.request_id = request_id
        self.protocol = protocol
        self.transport = transport
        self.session_id = session_id
        #: Who may read this trace (set once the caller is known): ``scope:<name>`` or ``key:<fingerprint>``.
        self.owner: str | None = None
        self.provider: str | None = None
        self.model: str | None = None
        self.credential: str | None = None
        self._entries: list[bytes] = []
        self._size = 0
        self._sequence = 0
        self._started = time.perf_counter()
        self._stream_seen: dict[str, int] = {}
        self._dropped = 0
        self._closed = False

    def record(
        self,
        pass_name: str,
        data: Any = None,
        *,
        direction: Direction = "request",
        component: Component = "client",
        provider: str | None = None,
        model: str | None = None,
        credential: str | None = None,
        **metadata: Any,
    ) -> None:
        """Record one pass. ``data`` is redacted and copied now, so the caller may go on changing it.

        Args:
            pass_name: the pass, named as in the trace contract (``raw_client_request``, ``provider_request``...).
            data: the payload as it stands after this pass.
            direction: request, response, stream, error or metadata. Stream entries may be sampled.
            component: which side of the gateway the pass belongs to: client or provider.
            provider: the provider, if not the trace's.
            model: the model, if not the trace's.
            credential: the masked credential, if not the trace's. Never pass a raw key.
            **metadata: anything else worth keeping (timings, counts); redacted like ``data``.
        """
        writer = self._writer
        if self._closed or not writer.enabled:
            return
        config = writer.config
        if direction == "stream" and config.stream_capture == "sampled":
            seen = self._stream_seen.get(pass_name, 0) + 1
            self._stream_seen[pass_name] = seen
            if (seen - 1) % config.sample_every:
                return
            metadata["stream_index"] = seen
        try:
            line = self._line(pass_name, data, direction, component, provider, model, credential, metadata)
        except Exception as exc:
            writer._record_failed(pass_name, exc)
            return
        if self._size + len(line) > config.max_bytes_per_request:
            self._dropped += 1
            return
        self._size += len(line)
        self._entries.append(line)

    def error(
        self,
        failed_pass: str,
        exc: BaseException,
        *,
        data: Any = None,
        component: Component = "client",
        provider: str | None = None,
        model: str | None = None,
        credential: str | None = None,
        **metadata: Any,
    ) -> None:
        """Record a ``transform_log_error`` entry: which pass failed, and how.

        Args:
            failed_pass: the pass that was running when ``exc`` was raised.
            exc: the error; its type and message are kept (the message redacted).
            data: the payload the pass was working on, if any.
            component: client or provider.
            provider: the provider, if not the trace's.
            model: the model, if not the trace's.
            credential: the masked credential, if not the trace's.
            **metadata: more context, e.g. ``stage="before_execution"``.
        """
        payload = {"failed_pass": failed_pass, "error_type": type(exc).__name__, "error": str(exc), "payload": data}
        self.record(
            "transform_log_error",
            payload,
            direction="error",
            component=component,
            provider=provider,
            model=model,
            credential=credential,
            **metadata,
        )

    async def close(self) -> None:
        """Write the recorded entries to the trace file, once; later calls and records do nothing."""
        if self._closed:
            return
        self._closed = True
        writer = self._writer
        if not writer.enabled:
            return
        entries, self._entries = self._entries, []
        try:
            entries.extend(self._summary())
        except Exception as exc:
            writer._record_failed("trace summary", exc)
        if entries:
            await writer._write(self.request_id, b"".join(entries))

    def _summary(self) -> list[bytes]:
        lines = []
        if self._stream_seen:
            counts = {"stream_events_seen": self._stream_seen, "sample_every": self._writer.config.sample_every}
            lines.append(self._line("stream_sampling_summary", counts, "metadata", "client", None, None, None, {}))
        if self._dropped:
            dropped = {
                "dropped_entries": self._dropped,
                "max_bytes_per_request": self._writer.config.max_bytes_per_request,
            }
            lines.append(self._line("trace_truncated", dropped, "metadata", "client", None, None, None, {}))
        return lines

    def _line(
        self,
        pass_name: str,
        data: Any,
        direction: str,
        component: str,
        provider: str | None,
        model: str | None,
        credential: str | None,
        metadata: dict[str, Any],
    ) -> bytes:
        self._sequence += 1
        entry = {
            "sequence": self._sequence,
            "request_id": self.request_id,
            "timestamp_utc": datetime.now(UTC).isoformat(),
            "elapsed_ms": round((time.perf_counter() - self._started) * 1000, 3),
            "component": component,
            "pass_name": pass_name,
            "direction": direction,
            "protocol": self.protocol,
            "provider": provider or self.provider,
            "model": model or self.model,
            "credential_id": credential or self.credential,
            "transport": self.transport,
            "session_id": self.session_id,
            "owner": self.owner,
            "metadata": metadata,
            "data": data,
        }
        return orjson.dumps(self._writer.redactor.redact(entry), option=_DUMPS_OPTIONS)
