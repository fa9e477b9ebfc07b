"""Fake subscription backends: token endpoints and provider endpoints that check what the real ones check.

One ASGI app serves all of them under path prefixes; each provider endpoint validates its preset's wire
rules (headers, auth, envelope), answers the real service's error body when a rule is broken, and otherwise
hands the request, unwrapped, to a :class:`FakeUpstream` for a protocol-correct answer (wrapped again for
Code Assist). Rules and error bodies come from docs/subscriptions/ (and their sources).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from asgi_rotator.http.asgi import read_body
from asgi_rotator.testing import FakeUpstream

CLAUDE_IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT with ``claims`` (enough for readers of ``exp`` and account claims)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


@dataclass
class Seen:
    """A request a fake endpoint received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class TokenServer:
    """An OAuth token endpoint with rotating refresh tokens and reuse detection, like Claude's and Codex's.

    ``live`` maps each valid refresh token to the client_id it belongs to; a used refresh token is retired.
    """

    body: str = "form"  # how the real endpoint expects the refresh body
    live: dict[str, str] = field(default_factory=dict)
    rotate: bool = True
    expires_in: int = 3600
    basic: tuple[str, str] | None = None
    client_secret: str | None = None
    access_tokens: Callable[[int], str] = lambda n: f"access-renewed-{n:04d}-xxxxxxxx"
    extra: dict[str, Any] = field(default_factory=dict)
    calls: int = 0
    delay: float = 0.05  # long enough for concurrent requests to pile up behind one renewal
    issued: list[str] = field(default_factory=list)

    async def answer(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        content_type = seen.headers.get("content-type", "")
        if self.body == "json":
            if not content_type.startswith("application/json"):
                return 400, {"error": "invalid_request", "error_description": "expected a JSON body"}
            fields = seen.body
        else:
            if not content_type.startswith("application/x-www-form-urlencoded"):
                return 400, {"error": "invalid_request", "error_description": "expected a form body"}
            fields = {k: v[0] for k, v in parse_qs(seen.body).items()}
        if self.basic is not None:
            expected = "Basic " + base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            if seen.headers.get("authorization") != expected:
                return 401, {"error": "invalid_client"}
        if self.client_secret is not None and fields.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client"}
        token = fields.get("refresh_token")
        if fields.get("grant_type") != "refresh_token" or token not in self.live:
            return 400, {"error": "invalid_grant", "error_description": f"refresh token {token} is invalid or reused"}
        if fields.get("client_id") != self.live[token]:
            return 400, {"error": "invalid_client"}
        access = self.access_tokens(self.calls)
        self.issued.append(access)
        answer: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": self.expires_in}
        if self.rotate:
            client = self.live.pop(token)
            fresh = f"refresh-rotated-{self.calls:04d}-yyyyyyyy"
            self.live[fresh] = client
            answer["refresh_token"] = fresh
        return 200, {**answer, **self.extra}


@dataclass
class CopilotExchange:
    """GitHub's ``/copilot_internal/v2/token``: ``authorization: token <github token>`` for a Copilot token."""

    github_tokens: set[str]
    api: str
    life: int = 1800
    clock: Callable[[], float] = time.time
    calls: int = 0
    issued: list[str] = field(default_factory=list)

    async def answer(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        self.calls += 1
        await asyncio.sleep(0.05)
        auth = seen.headers.get("authorization", "")
        if seen.method != "GET" or not auth.startswith("token ") or auth[6:] not in self.github_tokens:
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        if "editor-version" not in seen.headers:
            return 400, {"message": "editor-version header is required"}
        token = f"tid=copilot-{self.calls:04d};exp=zzzzzzzz"
        self.issued.append(token)
        return 200, {
            "token": token,
            "expires_at": int(self.clock()) + self.life,
            "refresh_in": self.life - 300,
            "endpoints": {"api": self.api},
        }


class SubscriptionFake:
    """The fake backends. ``upstream`` answers the validated, unwrapped requests."""

    def __init__(self) -> None:
        self.upstream = FakeUpstream()
        self.tokens: dict[str, TokenServer | CopilotExchange] = {}
        self.seen: list[Seen] = []
        self.project = "fake-project-123"
        self.onboarded_after = 0  # loadCodeAssist calls before the account has a project
        self.onboard_polls = 0
        self.iflow_keys: dict[str, str] = {}  # iFlow access token -> API key

    def calls_to(self, prefix: str) -> list[Seen]:
        """Requests whose path starts with ``prefix``."""
        return [s for s in self.seen if s.path.startswith(prefix)]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive, limit=1 << 30)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        text = body.decode()
        parsed: Any = text
        if headers.get("content-type", "").startswith("application/json") and text:
            parsed = json.loads(text)
        seen = Seen(scope["method"], path, parse_qs(scope["query_string"].decode()), headers, parsed)
        self.seen.append(seen)
        for prefix, server in self.tokens.items():
            if path == prefix:
                status, answer = await server.answer(seen)
                await _json(send, status, answer)
                return
        handler = self._handler(path)
        if handler is None:
            await _json(send, 404, {"error": {"message": f"no fake at {path}"}})
            return
        await handler(seen, scope, body, send)

    def _handler(self, path: str) -> Any:
        for prefix, handler in (
            ("/plain/", self._plain),
            ("/claude/v1/messages", self._claude),
            ("/codex/responses", self._codex),
            ("/copilot/", self._copilot),
            ("/codeassist/v1internal", self._code_assist),
            ("/qwen/v1/chat/completions", self._qwen),
            ("/iflow/v1/chat/completions", self._iflow),
            ("/iflow-auth/api/oauth/getUserInfo", self._iflow_user),
        ):
            if path.startswith(prefix):
                return handler
        return None

    async def _delegate(self, scope: dict[str, Any], path: str, body: bytes, send: Any, wrap: bool = False) -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # no disconnect: the stream runs to its end
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def forward(message: dict[str, Any]) -> None:
            if wrap and message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": _wrapped(message["body"])}
            if wrap and message["type"] == "http.response.start":
                message = {**message, "headers": [h for h in message["headers"] if h[0] != b"content-length"]}
            await send(message)

        await self.upstream({**scope, "path": path, "raw_path": path.encode()}, receive, forward)

    # -- providers ---------------------------------------------------------------------------------------

    async def _plain(self, seen: Seen, scope: dict[str, Any], body: bytes, send: Any) -> None:
        await self._delegate(scope, seen.path.removeprefix("/plain"), body, send)

    async def _claude(self, seen: Seen, scope: dict[str, Any], body: bytes, send: Any) -> None:
        auth = seen.headers.get("authorization", "")
        betas = seen.headers.get("anthropic-beta", "").split(",")
        if seen.path.endswith("/v1/messages") and seen.query.get("beta") != ["true"]:
            return await _anthropic_error(send, 404, "not_found_error", "Not Found")
        if not auth.startswith("Bearer sk-ant-oat") or "x-api-key" in seen.headers:
            return await _anthropic_error(send, 401, "authentication_error", "invalid x-api-key")
        if "oauth-2025-04-20" not in betas or "anthropic-version" not in seen.headers:
            return await _anthropic_error(
                send, 401, "authentication_error", "OAuth authentication is currently not supported."
            )
        system = seen.body.get("system") if isinstance(seen.body, dict) else None
        if not (isinstance(system, list) and system and system[0].get("text") == CLAUDE_IDENTITY):
            return await _anthropic_error(
                send,
                400,
                "invalid_request_error",
                "This credential is only authorized for use with Claude Code and cannot be used for other API "
                "requests.",
            )
        await self._delegate(scope, seen.path.removeprefix("/claude"), body, send)

    async def _codex(self, seen: Seen, scope: dict[str, Any], body: bytes, send: Any) -> None:
        payload = seen.body
        problems = [
            ("chatgpt-account-id" not in seen.headers, "Missing chatgpt-account-id"),
            (not seen.headers.get("authorization", "").startswith("Bearer "), "Unauthorized"),
            (payload.get("store") is not False, "Store must be set to false"),
            (payload.get("stream") is not True, "Stream must be set to true"),
            ("instructions" not in payload, "Instructions are required"),
            ("reasoning.encrypted_content" not in payload.get("include", []), "include reasoning.encrypted_content"),
            (any(k in payload for k in ("max_output_tokens", "temperature", "top_p")), "Unsupported parameter"),
            (any(i.get("role") == "system" for i in payload.get("input", []) if isinstance(i, dict)), "No system"),
        ]
        for broken, detail in problems:
            if broken:
                return await _json(send, 400, {"detail": detail})
        await self._delegate(scope, "/v1/responses", body, send)

    async def _copilot(self, seen: Seen, scope: dict[str, Any], body: bytes, send: Any) -> None:
        exchange = self.tokens.get("/github/copilot_internal/v2/token")
        issued = exchange.issued if isinstance(exchange, CopilotExchange) else []
        token = seen.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in issued:
            return await _json(send, 401, {"error": {"message": "unauthorized: token expired", "code": "unauthorized"}})
        for header in ("copilot-integration-id", "editor-version", "x-initiator"):
            if header not in seen.headers:
                return await _json(send, 400, {"error": {"message": f"missing {header}", "code": "bad_request"}})
        if any(m.get("role") == "developer" for m in seen.body.get("messages", [])):
            return await _json(send, 400, {"error": {"message": "invalid role developer", "code": "invalid_request"}})
        await self._delegate(scope, "/v1/" + seen.path.removeprefix("/copilot/"), body, send)

    async def _code_assist(self, seen: Seen, scope: dict[str, Any], body: bytes, send: Any) -> None:
        operation = seen.path.removeprefix("/codeassist/v1internal")
        if not seen.headers.get("authorization", "").startswith("Bearer "):
            return await _json(send, 401, {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "no"}})
        if operation == ":loadCodeAssist":
            self.onboarded_after -= 1
            if self.onboarded_after >= 0:
                tiers = [{"id": "free-tier", "isDefault": True}]
                return await _json(send, 200, {"allowedTiers": tiers})
            return await _json(send, 200, {"currentTier": {"id": "free-tier"}, "cloudaicompanionProject": self.project})
        if operation == ":onboardUser" or operation.startswith("/operations/"):
            self.onboard_polls += 1
            if self.onboard_polls < 2:
                return await _json(send, 200, {"name": "operations/onb-1", "done": False})
            response = {"cloudaicompanionProject": {"id": self.project, "name": "p"}}
            return await _json(send, 200, {"name": "operations/onb-1", "done": True, "response": response})
        envelope = seen.body
        if operation == ":countTokens":
            request = envelope.get("request", {})
            model = request.get("model", "").removeprefix("models/")
            inner = json.dumps({"contents": request.get("contents", [])}).encode()
            return await self._delegate(scope, f"/v1beta/models/{model}:countTokens", inner, send)
        if (
            envelope.get("project") != self.project
            or "model" not in envelope
            or "contents" not in envelope.get("request", {})
        ):
            return await _json(send, 400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad"}})
        inner = json.dumps(envelope["request"]).encode()
        await self._delegate(scope, f"/v1beta/models/{envelope['model']}{operation}", inner, send, wrap=True)

    async def _qwen(self, seen: Seen, scope: dict[str, Any], body: bytes, send: Any) -> None:
        if seen.headers.get("x-dashscope-authtype") != "qwen-oauth" or "x-dashscope-useragent" not in seen.headers:
            return await _json(send, 400, {"error": {"message": "missing DashScope headers", "code": "bad"}})
        await self._delegate(scope, "/v1/chat/completions", body, send)

    async def _iflow(self, seen: Seen, scope: dict[str, Any], body: bytes, send: Any) -> None:
        key = seen.headers.get("authorization", "").removeprefix("Bearer ")
        session, stamp = seen.headers.get("session-id", ""), seen.headers.get("x-iflow-timestamp", "")
        expected = hmac.new(key.encode(), f"iFlow-Cli:{session}:{stamp}".encode(), hashlib.sha256).hexdigest()
        if key not in self.iflow_keys.values() or seen.headers.get("x-iflow-signature") != expected:
            return await _json(send, 401, {"error": {"message": "invalid signature", "code": "401"}})
        await self._delegate(scope, "/v1/chat/completions", body, send)

    async def _iflow_user(self, seen: Seen, scope: dict[str, Any], body: bytes, send: Any) -> None:
        key = self.iflow_keys.get(seen.query.get("accessToken", [""])[0])
        if key is None:
            return await _json(send, 401, {"success": False, "message": "invalid token"})
        await _json(send, 200, {"success": True, "data": {"apiKey": key, "email": "e@x"}})


def _wrapped(chunk: bytes) -> bytes:
    """Code Assist's answers: each JSON body or SSE ``data:`` payload inside ``{"response": ...}``."""
    text = chunk.decode()
    if text.lstrip().startswith("{"):
        return json.dumps({"response": json.loads(text), "traceId": "t-1"}).encode()
    lines = []
    for line in text.split("\n"):
        if line.startswith("data: ") and line[6:].strip().startswith("{"):
            line = "data: " + json.dumps({"response": json.loads(line[6:].rstrip("\r"))}) + "\r"
        lines.append(line)
    return "\n".join(lines).encode()


async def _json(send: Any, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": data})


async def _anthropic_error(send: Any, status: int, kind: str, message: str) -> None:
    await _json(send, status, {"type": "error", "error": {"type": kind, "message": message}})
