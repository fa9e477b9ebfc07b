"""Adapters of the subscription presets: what each subscription backend checks beyond its base protocol.

    claude_code    Claude Code's identity as the first system block, ``?beta=true``
    codex          the ChatGPT backend's Responses rules (store false, always streamed, encrypted reasoning,
                   instructions present, unsupported tuning dropped) and the ``chatgpt-account-id`` header
    copilot        ``X-Initiator`` (user or agent: who started this turn, which decides premium billing) and
                   ``Copilot-Vision-Request`` when images are sent
    code_assist    Gemini requests in the Code Assist ``v1internal`` envelope ``{model, project, request}``
                   (Gemini CLI and Antigravity), and its ``{"response": ...}`` answers and stream chunks
                   unwrapped

Per-credential values (the ChatGPT account, the Code Assist project) come from the OAuth credential's file
through ``AdapterContext.credential_fields``; no adapter ever sees a token.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ..errors import UpstreamError
from ..protocols.base import NativeRequest
from .adapters import AdapterContext, PayloadAdapter

#: The system text the Claude Code OAuth endpoint requires first.
CLAUDE_CODE_IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."

#: Responses fields the ChatGPT backend refuses.
_CODEX_DROPPED = (
    "max_output_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "truncation",
    "user",
    "previous_response_id",
    "prompt_cache_retention",
    "safety_identifier",
    "stream_options",
)
_CODE_ASSIST_FLAVORS = ("gemini_cli", "antigravity")


class ClaudeCode(PayloadAdapter):
    """Claude Code's OAuth endpoint serves only requests whose first system block is Claude Code's identity."""

    name = "claude_code"
    stages = frozenset({"request"})

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        if not native.path.endswith(("/v1/messages", "/v1/messages/count_tokens")):
            return
        native.query["beta"] = "true"
        system = native.body.get("system")
        identity = {"type": "text", "text": CLAUDE_CODE_IDENTITY}
        if isinstance(system, str) and system:
            native.body["system"] = [identity, {"type": "text", "text": system}]
        elif isinstance(system, list) and system:
            first = system[0]
            if not (isinstance(first, dict) and first.get("text") == CLAUDE_CODE_IDENTITY):
                native.body["system"] = [identity, *system]
        else:
            native.body["system"] = [identity]


class Codex(PayloadAdapter):
    """The ChatGPT backend's Responses rules, and the ChatGPT account of the credential."""

    name = "codex"
    stages = frozenset({"request"})

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        body = native.body
        for name in _CODEX_DROPPED:
            body.pop(name, None)
        if body.get("service_tier") != "priority":
            body.pop("service_tier", None)
        body["store"] = False
        body["stream"] = native.stream = True  # the backend only streams; a non-streamed call is gathered
        include = body.get("include")
        include = include if isinstance(include, list) else []
        if "reasoning.encrypted_content" not in include:
            body["include"] = [*include, "reasoning.encrypted_content"]
        body.setdefault("instructions", "")
        items = body.get("input")
        if isinstance(items, str):
            body["input"] = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": items}]}]
        elif isinstance(items, list):
            body["input"] = [
                {**item, "role": "developer"} if isinstance(item, dict) and item.get("role") == "system" else item
                for item in items
            ]
        account = ctx.credential_fields.get("account_id")
        if account:
            native.headers["chatgpt-account-id"] = account


class Copilot(PayloadAdapter):
    """``X-Initiator``: ``user`` when the last message is the user's own (a premium request), else ``agent``
    (a tool loop continuing); ``Copilot-Vision-Request`` when any message carries an image."""

    name = "copilot"
    stages = frozenset({"request"})

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        items = native.body.get("messages") or native.body.get("input")
        if not isinstance(items, list):
            return
        last = items[-1] if items else {}
        by_user = isinstance(last, dict) and last.get("role") == "user" and not _tool_result(last)
        native.headers["x-initiator"] = "user" if by_user else "agent"
        if any(_has_image(item) for item in items):
            native.headers["copilot-vision-request"] = "true"


def _tool_result(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") in ("tool_result", "function_call_output") for part in content
    )


def _has_image(message: Any) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") in ("image_url", "input_image") for part in content
    )


class CodeAssist(PayloadAdapter):
    """Gemini through Google's Code Assist API (``/v1internal``), as Gemini CLI and Antigravity call it.

    Config: ``flavor`` (``gemini_cli`` or ``antigravity``: Antigravity's envelope adds its request type and
    ids and drops safety settings); ``project`` overrides the credential's discovered ``project_id``.
    """

    name = "code_assist"
    aliases = ("antigravity_envelope",)  # the seed's name for it
    stages = frozenset({"request", "response", "stream_payload"})

    @classmethod
    def validate_config(cls, config: Mapping[str, Any]) -> None:
        if config.get("flavor", "gemini_cli") not in _CODE_ASSIST_FLAVORS:
            raise ValueError(f"flavor must be one of {', '.join(_CODE_ASSIST_FLAVORS)}")

    def transform_request(self, native: NativeRequest, ctx: AdapterContext) -> None:
        path, _, operation = native.path.rpartition(":")
        if operation == "countTokens":
            name = path.rsplit("/", 1)[-1]
            inner = native.body.get("generateContentRequest", native.body)
            native.body = {"request": {"model": f"models/{name}", "contents": inner.get("contents", [])}}
            native.path = "/v1internal:countTokens"
            return
        project = ctx.config.get("project") or ctx.credential_fields.get("project_id")
        if not project:
            raise UpstreamError(
                "authentication",
                "This Code Assist credential has no project: its file needs project_id (asgi-rotator login "
                "discovers it), or set the code_assist adapter's project.",
            )
        request = native.body
        envelope: dict[str, Any] = {"model": ctx.model.removeprefix("models/"), "project": project}
        if ctx.config.get("flavor") == "antigravity":
            request.pop("safetySettings", None)
            request.setdefault("sessionId", ctx.session_id or f"-{uuid.uuid4().int >> 65}")
            envelope.update(userAgent="antigravity", requestType="agent", requestId=f"agent-{uuid.uuid4()}")
        envelope["request"] = request
        native.body = envelope
        native.path = f"/v1internal:{operation}"

    def transform_response(self, body: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        inner = body.get("response")
        return inner if isinstance(inner, dict) else body

    def transform_stream_payload(self, payload: dict[str, Any], ctx: AdapterContext) -> dict[str, Any]:
        inner = payload.get("response")
        return inner if isinstance(inner, dict) else payload


SUBSCRIPTION_ADAPTERS: tuple[type[PayloadAdapter], ...] = (ClaudeCode, Codex, Copilot, CodeAssist)
