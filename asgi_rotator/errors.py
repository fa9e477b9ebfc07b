"""Exceptions raised by asgi_rotator.

    RotatorError
    ├── ConfigError              (also a ValueError) bad configuration, raised at construction
    │   └── FieldCachePathError  a malformed field-cache or adapter path
    ├── MissingDependency        an optional extra is not installed
    ├── BackendError             the state backend failed (Redis down, timeout)
    │   └── BackendTimeout       it did not answer in time: the operation may or may not have happened
    ├── ClientDisconnected       the client went away while the gateway read or wrote
    ├── SSEEventTooLarge         an upstream stream sent an event larger than the decoder allows
    └── GatewayError             anything that reaches a client as an HTTP error
        ├── UpstreamError        the provider answered with an error, or could not be reached
        ├── NoCredentialAvailable every credential of a provider is cooling, capped or busy
        └── BudgetExceeded       a client key used up its budget for the period

A :class:`GatewayError` carries a canonical ``kind`` and an HTTP status; each client protocol renders it in
its own error shape. It is immutable once built: code that wants to say more about an error (the targets
tried, the attempt history) builds a new one with :meth:`GatewayError.evolve`. Messages never contain a
credential: upstream bodies are scrubbed before they get here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
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


class FieldCachePathError(ConfigError):
    """A field-cache or adapter path is malformed (raised when the config is loaded, never per request)."""


class MissingDependency(RotatorError, ImportError):
    """An optional dependency is needed for what was asked."""

    def __init__(self, package: str, *, extra: str) -> None:
        super().__init__(f"{package!r} is not installed; install it with: pip install 'asgi-rotator[{extra}]'")
        self.package = package
        self.extra = extra


class APIStatusError(RotatorError):
    """The gateway answered a Python API call with an error (:meth:`RotatorASGI.acompletion` and friends).

    Args:
        status_code: the HTTP status the same request would have got over HTTP (0 for an error in a stream).
        body: the error body in the called protocol's shape.
    """

    def __init__(self, status_code: int, body: Any) -> None:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        super().__init__(str(message or body))
        self.status_code = status_code
        self.body = body
        self.message = str(message or body)


class BackendError(RotatorError):
    """The state backend failed; the gateway degrades as documented in docs/scaling.md."""


class OAuthFileError(RotatorError):
    """An OAuth credential file is missing, unreadable or not a credential; the message names the file."""


class LoginError(RotatorError):
    """``asgi-rotator login`` did not complete; the message says what the provider answered."""


class BackendTimeout(BackendError):
    """The state backend did not answer in time: the operation may or may not have happened (a stalled
    Redis runs it when it wakes up), so only idempotent writes are safe to repeat."""


class ClientDisconnected(RotatorError):
    """The client went away while the gateway was reading or writing."""


class SSEEventTooLarge(RotatorError):
    """An upstream stream sent one event (or line) larger than the decoder allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an upstream stream event exceeded {limit} bytes")
        self.limit = limit


class GatewayError(RotatorError):
    """An error the client sees, rendered in its protocol's error shape. Immutable once built.

    Args:
        kind: the canonical error class (drives the status, the client error type and retry decisions).
        message: what happened and, where useful, what to do; safe to show the client.
        status: the HTTP status, when it differs from the kind's default.
        retry_after: seconds after which a retry may succeed (sent as ``retry-after``).
        param: the offending request field, when there is one.
        details: metadata for headers and traces (never shown as the message).
    """

    _frozen = False

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        param: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status = status or STATUS_FOR_KIND.get(kind, 500)
        self.retry_after = retry_after
        self.param = param
        self.details: Mapping[str, Any] = MappingProxyType(dict(details or {}))
        self._frozen = True

    def __setattr__(self, name: str, value: Any) -> None:
        # Python itself sets __traceback__, __cause__ and __context__ on a raised exception.
        if self._frozen and not name.startswith("__"):
            raise AttributeError(f"{type(self).__name__} is immutable; build a new one with evolve()")
        super().__setattr__(name, value)

    def evolve(
        self,
        *,
        kind: ErrorKind | None = None,
        message: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> GatewayError:
        """A plain :class:`GatewayError` like this one with some values changed (``details`` are merged)."""
        return GatewayError(
            kind or self.kind,
            self.message if message is None else message,
            status=status or (self.status if kind is None else None),
            retry_after=self.retry_after if retry_after is None else retry_after,
            param=self.param,
            details={**self.details, **(details or {})},
        )

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
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self._frozen = False
        self.upstream_status = upstream_status
        super().__init__(kind, message, status=status, retry_after=retry_after, details=details)

    def evolve_upstream(self, *, details: Mapping[str, Any]) -> UpstreamError:
        """This upstream error with ``details`` merged in."""
        return UpstreamError(
            self.kind,
            self.message,
            upstream_status=self.upstream_status,
            retry_after=self.retry_after,
            status=self.status,
            details={**self.details, **details},
        )


class NoCredentialAvailable(GatewayError):
    """Every credential of a provider is cooling, capped or busy, or the target itself rests (``resting`` names
    the cooldown's scope: model or provider). ``retry_after`` is when the first frees up."""

    def __init__(
        self, provider: str, retry_after: float | None, reason: str = "available", *, resting: str | None = None
    ) -> None:
        if resting is not None:
            # The whole target cools (a model or provider cooldown), whatever its credentials' own states.
            message = f"Provider {provider!r} is resting: its {resting} cooldown ends in {retry_after or 0:.0f}s."
        else:
            wait = f"; retry in {retry_after:.0f}s" if retry_after else ""
            message = f"No credential of provider {provider!r} is {reason}{wait}."
        self._frozen = False
        self.provider = provider
        super().__init__("no_credentials", message, retry_after=retry_after)


class BudgetExceeded(GatewayError):
    """A client key used up its budget for the period; ``retry_after`` is the seconds until the period ends."""

    def __init__(self, limit: str, period: str, retry_after: float) -> None:
        self._frozen = False
        self.limit = limit
        self.period = period
        super().__init__(
            "rate_limit",
            f"Client key budget exceeded: {limit} per {period}; it resets in {retry_after:.0f}s.",
            retry_after=retry_after,
            status=429,
        )


class RequestDenied(GatewayError):
    """Raised by a ``pre_request`` hook to refuse a request; the client gets it in its protocol's error shape.

    Args:
        message: what the client is told.
        status: the HTTP status (403 by default).
    """

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__("permission", message, status=status)


def invalid_request(message: str, *, param: str | None = None) -> GatewayError:
    """A 400 for a request the gateway cannot accept."""
    return GatewayError("invalid_request", message, param=param)
