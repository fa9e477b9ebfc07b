"""The built-in adapters; :func:`builtin_adapters` gives a new registry holding them.

model_override            request            {model}
suppress_developer_role   request            {mode: system | user | drop}
reasoning_content         response, stream   {output_field, source_fields}   alias reasoning_rewrite
field_rename              request, response, client_response
                                             {rules: [{source_path, target_path, stage, move,
                                              when_missing_only, as_list}]}   alias field_copy
drop_params               request            {params: [path, ...]}
set_headers               request            {headers: {name: value, or null to remove}}
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from ..protocols.base import NativeRequest
from .adapters import AdapterContext, AdapterRegistry, PayloadAdapter, Stage
from .paths import compile_path
from .subscription_adapters import SUBSCRIPTION_ADAPTERS

_GEMINI_MODEL = re.compile(r"/models/[^/:]+:")
_DEVELOPER_MODES = ("system", "user", "drop")
_REASONING_SOURCES = ("reasoning", "reasoning_text", "thinking")
_RENAME_STAGES: tuple[Stage, ...] = ("request", "response", "client_response")


class ModelOverride(PayloadAdapter):
    """Send another upstream model name than the one routed to (in the body, or in a Gemini path)."""

    name = "model_override"
    stages = frozenset({"request"})

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> None:
        if not isinstance(config.get("model"), str) or not config["model"]:
            raise ValueError("needs model: the upstream model name to send")

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        model = str(ctx.config["model"])
        if "model" in native.body:
            native.body["model"] = model
        else:
            native.path = _GEMINI_MODEL.sub(f"/models/{model.removeprefix('models/')}:", native.path, count=1)


class SuppressDeveloperRole(PayloadAdapter):
    """For upstreams that reject the ``developer`` role: make it ``system`` or ``user``, or drop it.

    It acts on OpenAI Chat ``messages`` and Responses ``input`` items; the Anthropic and Gemini protocols put
    developer instructions into their system field already.
    """

    name = "suppress_developer_role"
    stages = frozenset({"request"})

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> None:
        if config.get("mode", "system") not in _DEVELOPER_MODES:
            raise ValueError(f"mode must be one of {', '.join(_DEVELOPER_MODES)}")

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        mode = ctx.config.get("mode", "system")
        for key in ("messages", "input"):
            items = native.body.get(key)
            if not isinstance(items, list) or not any(_developer(item) for item in items):
                continue
            if mode == "drop":
                native.body[key] = [item for item in items if not _developer(item)]
            else:
                native.body[key] = [{**item, "role": mode} if _developer(item) else item for item in items]


def _developer(item: Any) -> bool:
    return isinstance(item, dict) and item.get("role") == "developer"


class ReasoningContent(PayloadAdapter):
    """Copy a provider's reasoning field (``reasoning``, ``reasoning_text``, ``thinking``) into
    ``reasoning_content`` on Chat-shaped messages and deltas; it copies and never deletes."""

    name = "reasoning_content"
    aliases = ("reasoning_rewrite",)
    stages = frozenset({"response", "stream_payload"})

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> None:
        sources = config.get("source_fields", _REASONING_SOURCES)
        if not isinstance(config.get("output_field", "reasoning_content"), str) or not isinstance(
            sources, list | tuple
        ):
            raise ValueError("output_field is a field name and source_fields a list of names")

    def transform_response(self, body: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        target = ctx.config.get("output_field", "reasoning_content")
        sources = ctx.config.get("source_fields", _REASONING_SOURCES)
        for choice in body.get("choices") or ():
            for key in ("message", "delta"):
                message = choice.get(key) if isinstance(choice, dict) else None
                if not isinstance(message, dict) or message.get(target):
                    continue
                found = next((message[s] for s in sources if isinstance(message.get(s), str) and message[s]), None)
                if found is not None:
                    message[target] = found
        return body

    def transform_stream_payload(self, payload: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        return self.transform_response(payload, ctx)


class FieldRename(PayloadAdapter):
    """Copy (or, with ``move``, rename) fields between paths of the request, the provider's response or the
    client's response body (each rule's ``stage``: ``request``, ``response`` or ``client_response``)."""

    name = "field_rename"
    aliases = ("field_copy",)
    stages = frozenset({"request", "response", "client_response"})

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> None:
        rules = config.get("rules")
        if not isinstance(rules, list) or not rules:
            raise ValueError("needs rules: [{source_path, target_path, ...}]")
        for i, rule in enumerate(rules):
            if not isinstance(rule, dict) or not rule.get("source_path") or not rule.get("target_path"):
                raise ValueError(f"rules[{i}] needs source_path and target_path")
            if rule.get("stage", "request") not in _RENAME_STAGES:
                raise ValueError(f"rules[{i}].stage must be one of {', '.join(_RENAME_STAGES)}")
            compile_path(rule["source_path"])
            compile_path(rule["target_path"])

    @classmethod
    def active_stages(cls, config: Mapping[str, Any]) -> frozenset[Stage]:
        return frozenset(rule.get("stage", "request") for rule in config.get("rules", ()))

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        _rename(native.body, "request", ctx.config)

    def transform_response(self, body: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        _rename(body, "response", ctx.config)
        return body

    def transform_client_response(self, body: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        _rename(body, "client_response", ctx.config)
        return body


def _rename(body: dict[str, Any], stage: str, config: Mapping[str, Any]) -> None:
    for rule in config.get("rules", ()):
        if rule.get("stage", "request") != stage:
            continue
        source = compile_path(rule["source_path"])
        found = source.extract(body)
        if not found:
            continue
        value = found if rule.get("as_list") else found[0]
        move = bool(rule.get("move"))
        changed = compile_path(rule["target_path"]).inject(
            body, value if move else copy.deepcopy(value), when_missing_only=bool(rule.get("when_missing_only"))
        )
        if changed and move:
            source.delete(body)


class DropParams(PayloadAdapter):
    """Remove request fields a provider rejects; ``params`` are paths (``seed``, ``tools[*].function.strict``)."""

    name = "drop_params"
    stages = frozenset({"request"})

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> None:
        params = config.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise ValueError("params is a list of paths")
        for param in params:
            compile_path(param)

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        for param in ctx.config.get("params", ()):
            compile_path(param).delete(native.body)


class SetHeaders(PayloadAdapter):
    """Set (or, with a null value, remove) headers of the upstream request."""

    name = "set_headers"
    stages = frozenset({"request"})

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> None:
        headers = config.get("headers")
        if not isinstance(headers, dict) or not all(
            isinstance(v, str | int | float) or v is None for v in headers.values()
        ):
            raise ValueError("needs headers: {name: value}, a null value removing the header")

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        for name, value in ctx.config["headers"].items():
            lowered = name.lower()
            for existing in [k for k in native.headers if k.lower() == lowered]:
                del native.headers[existing]
            if value is not None:
                native.headers[lowered] = str(value)


def builtin_adapters() -> AdapterRegistry:
    """A new registry holding the built-in adapters, for one app to add its own to."""
    return AdapterRegistry(
        (
            ModelOverride,
            SuppressDeveloperRole,
            ReasoningContent,
            FieldRename,
            DropParams,
            SetHeaders,
            *SUBSCRIPTION_ADAPTERS,
        )
    )
