"""Transform traces: a redacted JSONL record of every pass one request goes through.

:class:`TraceWriter` hands out a :class:`RequestTrace` per request (None when tracing is off);
:class:`TracingMiddleware` adds request ids and the client-side passes around any ASGI app;
:class:`Redactor` is the log boundary both go through.
"""

from __future__ import annotations

from .middleware import SCOPE_REQUEST_ID, SCOPE_TRACE, TracingMiddleware, current_trace
from .redaction import REDACTED, Redactor, normalize_key
from .writer import RequestTrace, TraceWriter, valid_request_id

__all__ = [
    "REDACTED",
    "SCOPE_REQUEST_ID",
    "SCOPE_TRACE",
    "Redactor",
    "RequestTrace",
    "TraceWriter",
    "TracingMiddleware",
    "current_trace",
    "normalize_key",
    "valid_request_id",
]
