"""Exceptions raised by asgi_rotator.

    RotatorError
    ├── ConfigError              (also a ValueError) bad configuration, raised at construction
    ├── MissingDependency        an optional extra is not installed
    ├── BackendError             the state backend failed (Redis down, timeout)
    └── GatewayError             anything that reaches a client as an HTTP error
        └── UpstreamError        the provider answered with an error, or could not be reached

A :class:`GatewayError` carries a canonical ``kind`` and an HTTP status; each client protocol renders it in
its own error shape. Messages never contain a credential: upstream bodies are scrubbed before they get here.
"""

from __future__ import annotations

from typing import Any, Literal

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "rate_limit",
    "quota_exceeded",
    "context_window_exceeded",
    "server_error",
    "api_connection",
    "timeout",
    "no_credentials",
    "upstream_invalid",
    "cancelled",
    "internal",
]

#: The HTTP status a client sees for each kind when nothing more specific is known.
STATUS_FOR_KIND: dict[str, int] = {
    "invalid_request": 400,
    "context_window_exceeded": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "rate_limit": 429,
    "quota_exceeded": 429,
    "server_error": 502,
    "api_connection": 502,
    "upstream_invalid": 502,
    "no_credentials": 503,
    "timeout": 504,
    "cancelled": 499,
    "internal": 500,
}


class RotatorError(Exception):
    """Base class of every exception this library raises."""


class ConfigError(RotatorError, ValueError):
    """The configuration is invalid. The message names the field and never echoes a secret value."""


class MissingDependency(RotatorError, ImportError):
    """An optional dependency is needed for what was asked."""

    def __init__(self, package: str, *, extra: str) -> None:
        super().__init__(f"{package!r} is not installed; install it with: pip install 'asgi-rotator[{extra}]'")
        self.package = package
        self.extra = extra


class BackendError(RotatorError):
    """The state backend failed; the gateway degrades as documented in docs/scaling.md."""


class GatewayError(RotatorError):
    """An error the client sees, rendered in its protocol's error shape.

    Args:
        kind: the canonical error class (drives the status, the client error type and retry decisions).
        message: what happened and, where useful, what to do; safe to show the client.
        status: the HTTP status, when it differs from the kind's default.
        retry_after: seconds after which a retry may succeed (sent as ``retry-after``).
        param: the offending request field, when there is one.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        param: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status = status or STATUS_FOR_KIND.get(kind, 500)
        self.retry_after = retry_after
        self.param = param
        self.details = details or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, status={self.status}, message={self.message!r})"


class UpstreamError(GatewayError):
    """The provider failed. ``upstream_status`` is what the provider answered (0 when it was not reached)."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        upstream_status: int = 0,
        retry_after: float | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(kind, message, status=status, retry_after=retry_after, details=details)
        self.upstream_status = upstream_status


def invalid_request(message: str, *, param: str | None = None) -> GatewayError:
    """A 400 for a request the gateway cannot accept."""
    return GatewayError("invalid_request", message, param=param)
