"""Redaction at the trace boundary: by key name, and by the secret values the gateway knows.

Key names are normalized first (``apiKey``, ``api_key`` and ``Api-Key`` are all ``api-key``), so one list covers
headers, JSON bodies and unified objects alike. Value redaction catches what key names cannot: a configured
credential inside a URL, an upstream error message or a header the list does not name.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, SecretBytes, SecretStr

REDACTED = "[redacted]"

#: Shorter strings are too likely to occur in ordinary text to be searched for as secrets.
MIN_SECRET_LENGTH = 8

_ALWAYS = frozenset(
    {
        # auth and credentials
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-goog-api-key",
        "x-rotator-provider-key",
        "openai-api-key",
        "api-key",
        "api-secret",
        "access-token",
        "refresh-token",
        "id-token",
        "client-secret",
        "private-key",
        "password",
        "secret",
        "token",
        "credential",
        "credentials",
        "credential-identifier",
        # provider state: opaque to us, and a replay token to whoever reads the trace
        "signature",
        "signatures",
        "thought-signature",
        "thought-signatures",
        "thinking-signatures",
        "encrypted-content",
        "redacted-thinking",
    }
)
# Names too generic to redact unless the value is a string: a query's ``key``, a unified block's ``redacted``.
_STRING_ONLY = frozenset({"key", "redacted"})

_NONE, _ALWAYS_RULE, _STRING_RULE = 0, 1, 2
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def normalize_key(key: str) -> str:
    """``thoughtSignature``, ``thought_signature`` and ``Thought-Signature`` all become ``thought-signature``."""
    return _CAMEL.sub("-", key).lower().replace("_", "-")


@functools.lru_cache(maxsize=8192)
def _rule(key: str) -> int:
    name = normalize_key(key)
    if name in _ALWAYS:
        return _ALWAYS_RULE
    if name in _STRING_ONLY:
        return _STRING_RULE
    return _NONE


class Redactor:
    """Returns redacted, JSON-ready copies of trace payloads; the input is never modified.

    Dicts, lists, tuples and sets are copied (tuples and sets become lists), dataclasses and pydantic models
    become dicts, bytes become text, and any other object its ``str``. Values under secret-bearing keys become
    ``"[redacted]"``, and every occurrence of a known secret inside any string (keys included) is replaced by it.

    Args:
        secrets: the values that must never appear: configured credentials and client keys. Values shorter
            than 8 characters are ignored.
    """

    __slots__ = ("_pattern",)

    def __init__(self, secrets: Iterable[str]) -> None:
        values: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET_LENGTH:
                values.add(secret)
                values.add(quote(secret, safe=""))  # the form it takes in a query string
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(values, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def scrub(self, text: str) -> str:
        """``text`` with every known secret value in it replaced."""
        return self._pattern.sub(REDACTED, text) if self._pattern is not None else text

    def redact(self, value: Any) -> Any:
        """A redacted deep copy of ``value``."""
        return self._copy(value)

    def _copy(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._pattern.sub(REDACTED, value) if self._pattern is not None else value
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return self._mapping(value)
        if isinstance(value, list | tuple | set | frozenset):
            return [self._copy(item) for item in value]
        if isinstance(value, bytes | bytearray | memoryview):
            return self._copy(bytes(value).decode("utf-8", "replace"))
        if isinstance(value, SecretStr | SecretBytes):
            return REDACTED
        if isinstance(value, BaseModel):
            return self._mapping(value.model_dump(mode="json"))
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
            return {"__class__": type(value).__name__, **self._mapping(fields)}
        return self._copy(str(value))

    def _mapping(self, value: Mapping[Any, Any]) -> dict[Any, Any]:
        redacted_block = value.get("type") == "redacted_thinking"
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str):
                rule = _rule(key)
                if self._pattern is not None:
                    key = self._pattern.sub(REDACTED, key)
                if (rule == _ALWAYS_RULE and item is not None) or (rule == _STRING_RULE and isinstance(item, str)):
                    out[key] = REDACTED
                    continue
                if redacted_block and key == "data":
                    out[key] = REDACTED
                    continue
            out[key] = self._copy(item)
        return out
