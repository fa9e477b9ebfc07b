"""Redaction at the trace boundary: by key name, by the shape of reasoning blocks, and by the secret values the
gateway knows.

Key names are normalized first (``apiKey``, ``api_key`` and ``Api-Key`` are all ``api-key``), so one list covers
headers, JSON bodies and unified objects alike. Value redaction catches what key names cannot: a configured
credential inside a URL, an upstream error message or a header the list does not name.

Reasoning text is redacted by default wherever a protocol carries it: ``reasoning_content`` and a string
``reasoning`` (OpenAI-compatible chat), a string ``thinking`` (Anthropic blocks and ``thinking_delta``), the
``text`` of thinking, reasoning and summary blocks (Responses items, OpenRouter ``reasoning_details``, the unified
:class:`~asgi_rotator.protocols.unified.Reasoning` and ``reasoning`` stream events), Gemini parts marked
``thought``, and the ``delta``/``text`` of Responses ``response.reasoning*`` stream events. ``show_reasoning``
keeps that text; provider state (signatures, ``encrypted_content``, redacted blocks) and ``prompt_cache_key``
are redacted whatever it says.
"""

from __future__ import annotations

import base64
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
        "provider-state",
        "provider-session-id",
        "prompt-cache-key",
        "cache-key",
    }
)
# Keys whose string value is reasoning text (a dict under ``reasoning`` or ``thinking`` is a request setting).
_REASONING_KEYS = frozenset({"reasoning-content", "reasoning", "thinking"})
# Blocks whose ``text`` (or ``summary``) is reasoning, by ``type`` (or ``kind`` / ``__class__`` for unified objects).
_REASONING_BLOCKS = frozenset(
    {"thinking", "reasoning", "reasoning_text", "summary_text", "reasoning.text", "reasoning.summary", "Reasoning"}
)
# Blocks that are provider state as a whole: their ``data`` is opaque.
_STATE_BLOCKS = frozenset({"redacted_thinking", "reasoning.encrypted"})
# Names too generic to redact unless the value is a string: a query's ``key``, a unified block's ``redacted``.
_STRING_ONLY = frozenset({"key", "redacted"})

_NONE, _ALWAYS_RULE, _STRING_RULE, _REASONING_RULE = 0, 1, 2, 3
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
    if name in _REASONING_KEYS:
        return _REASONING_RULE
    return _NONE


def secret_forms(secret: str) -> set[str]:
    """The forms a secret may take in text an upstream echoes: as is, percent-encoded, and base64 (standard and
    URL-safe) at each of the three alignments it can have inside a longer encoded string (``Basic`` auth, say)."""
    forms = {secret, quote(secret, safe="")}
    raw = secret.encode()
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * offset + raw).decode()
            # Skip the groups the padding bytes share, and a last group that the next byte could change.
            core = encoded[4 if offset else 0 : (offset + len(raw)) // 3 * 4]
            if len(core) >= MIN_SECRET_LENGTH:
                forms.add(core)
    return forms


def _reasoning_fields(value: Mapping[Any, Any]) -> tuple[str, ...]:
    """The keys of ``value`` that hold reasoning text, judged by the block's own type marker."""
    kind = value.get("type")
    if isinstance(kind, str):
        if kind in _REASONING_BLOCKS:
            return ("text", "summary")
        if kind.startswith("response.reasoning"):
            return ("delta", "text")
    if value.get("kind") == "reasoning" or value.get("__class__") in _REASONING_BLOCKS or value.get("thought") is True:
        return ("text",)
    return ()


class Redactor:
    """Returns redacted, JSON-ready copies of trace payloads; the input is never modified.

    Dicts, lists, tuples and sets are copied (tuples and sets become lists), dataclasses and pydantic models
    become dicts, bytes become text, and any other object its ``str``. Values under secret-bearing keys become
    ``"[redacted]"``, and every occurrence of a known secret inside any string (keys included) is replaced by it.

    Args:
        secrets: the values that must never appear: configured credentials and client keys. Values shorter
            than 8 characters are ignored.
        show_reasoning: keep reasoning text (``trace.show_reasoning``); provider state stays redacted.
    """

    __slots__ = ("_pattern", "_values", "_hide_reasoning")

    def __init__(self, secrets: Iterable[str], *, show_reasoning: bool = False) -> None:
        self._hide_reasoning = not show_reasoning
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self._include(secret)
        self._compile()

    def add(self, secret: str) -> None:
        """Redact ``secret`` from now on too (an OAuth token that was just read or renewed)."""
        if secret not in self._values and self._include(secret):
            self._compile()

    def _include(self, secret: str) -> bool:
        if len(secret) < MIN_SECRET_LENGTH:
            return False
        self._values.update(secret_forms(secret))
        return True

    def _compile(self) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(self._values, key=len, reverse=True)
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
            return self._mapping({"__class__": type(value).__name__, **fields})
        return self._copy(str(value))

    def _mapping(self, value: Mapping[Any, Any]) -> dict[Any, Any]:
        state_block = value.get("type") in _STATE_BLOCKS
        hide = self._hide_reasoning
        reasoning = _reasoning_fields(value) if hide else ()
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str):
                rule = _rule(key)
                if self._pattern is not None:
                    key = self._pattern.sub(REDACTED, key)
                if (
                    (rule == _ALWAYS_RULE and item is not None)
                    or (rule == _STRING_RULE and isinstance(item, str))
                    or (state_block and key == "data")
                    or (isinstance(item, str) and item and (key in reasoning or (hide and rule == _REASONING_RULE)))
                ):
                    out[key] = REDACTED
                    continue
            out[key] = self._copy(item)
        return out
