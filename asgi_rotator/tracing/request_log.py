"""The request log: one line per request on the ``logging.logger`` logger (``asgi_rotator.requests``).

A line carries the request id, the client's scope, the client's model and the served target, the masked
credential, the status, the attempts, the latency, the tokens and the cost, as ``key=value`` pairs or as one
JSON object (``logging.format: json``). Nothing in it is a secret: credentials appear masked, the path has no
query string, and every line goes through the redactor's secret scrub before it is written.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import _json
from ..config.observability import LoggingConfig
from .observation import RequestSummary
from .redaction import Redactor


class RequestLog:
    """Writes one line per finished request: INFO, or WARNING for an answer with status 400 or more.

    Args:
        config: the ``logging`` section.
        redactor: scrubs every configured secret from the line.
    """

    def __init__(self, config: LoggingConfig, redactor: Redactor) -> None:
        self.enabled = config.requests
        self.json = config.format == "json"
        self.logger = logging.getLogger(config.logger)
        self._redactor = redactor

    def emit(self, summary: RequestSummary) -> None:
        """Log ``summary`` (when request logging is on and the logger would write the line)."""
        level = logging.WARNING if summary.status >= 400 or summary.error else logging.INFO
        if not self.enabled or not self.logger.isEnabledFor(level):
            return
        fields = line_fields(summary)
        if self.json:
            line = _json.dumps({"event": "request", **fields}).decode()
        else:
            line = "request " + " ".join(
                f"{name}={_text(value)}" for name, value in fields.items() if value is not None
            )
        self.logger.log(level, "%s", self._redactor.scrub(line))


def line_fields(summary: RequestSummary) -> dict[str, Any]:
    """The fields of one request's log line, in order."""
    return {
        "request_id": summary.id,
        "scope": summary.scope,
        "method": summary.method,
        "path": summary.path,
        "protocol": summary.protocol,
        "model": summary.model,
        "target": summary.target,
        "credential": summary.credential,
        "status": summary.status,
        "error": summary.error,
        "stream": summary.stream,
        "attempts": len(summary.attempts),
        "attempt_outcomes": ",".join(a["outcome"] for a in summary.attempts) or None,
        "latency_ms": summary.latency_ms,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "cache_read_tokens": summary.cache_read_tokens,
        "cost_usd": summary.cost_usd,
    }


def _text(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return _json.dumps(text).decode() if not text or any(c in text for c in ' "=\n') else text
