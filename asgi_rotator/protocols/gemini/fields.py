"""Field access for Gemini bodies, which arrive in camelCase or snake_case.

The REST reference writes ``systemInstruction``; the google-genai SDK sends top-level keys in camelCase but
nested objects it dumps from pydantic (``inlineData.mime_type``, ``thinkingConfig.thinking_budget``,
``parameters_json_schema``) in snake_case, and other clients send snake_case throughout. The API accepts both.
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import invalid_request
from .._common import expect

_UPPER = re.compile(r"([A-Z])")


def snake(camel: str) -> str:
    """``mimeType`` → ``mime_type``."""
    return _UPPER.sub(r"_\1", camel).lower()


def both(*camels: str) -> frozenset[str]:
    """The camelCase names and their snake_case aliases."""
    return frozenset(camels) | frozenset(snake(c) for c in camels)


def get(obj: dict[str, Any], camel: str) -> Any:
    """The value under ``camel`` or its snake_case alias (None when neither is there)."""
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake(camel))
    return value


def has(obj: dict[str, Any], camel: str) -> bool:
    """True when ``camel`` or its snake_case alias is set to something other than null."""
    return get(obj, camel) is not None


def opt(obj: dict[str, Any], camel: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """An optional field under either spelling, type-checked (a 400 naming it when wrong)."""
    value = get(obj, camel)
    return None if value is None else expect(value, kind, f"{where}{camel}")


def req(obj: dict[str, Any], camel: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """A required field under either spelling, type-checked."""
    value = get(obj, camel)
    if value is None:
        raise invalid_request(f"Missing required field '{where}{camel}'.", param=f"{where}{camel}")
    return expect(value, kind, f"{where}{camel}")


def unknown(obj: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The keys of ``obj`` this module does not understand (replayed on same-protocol paths)."""
    return {k: v for k, v in obj.items() if k not in known}


# Gemini's ``Schema`` is an OpenAPI 3.0 subset with upper-case type names; the SDK dumps it in snake_case.
_SCHEMA_KEYS = {
    "any_of": "anyOf",
    "max_items": "maxItems",
    "min_items": "minItems",
    "max_length": "maxLength",
    "min_length": "minLength",
    "max_properties": "maxProperties",
    "min_properties": "minProperties",
    "additional_properties": "additionalProperties",
    "ref": "$ref",
    "defs": "$defs",
}
_SCHEMA_DROPPED = frozenset({"propertyOrdering", "property_ordering", "nullable"})


def to_json_schema(schema: Any) -> Any:
    """A Gemini ``Schema`` as JSON Schema: lower-case types, ``nullable`` as a ``null`` type, camelCase keys."""
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for raw_key, value in schema.items():
        if raw_key in _SCHEMA_DROPPED:
            continue
        key = str(_SCHEMA_KEYS.get(raw_key, raw_key))
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "additionalProperties"):
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out
