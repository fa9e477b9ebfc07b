"""The route table: method and mount-relative path to an endpoint. Pure matching, no I/O.

Gemini puts the model and the operation in the path (``/v1beta/models/{model}:generateContent``); the
current google-genai SDK uses ``/v1`` and may percent-encode the colon, which ASGI servers usually decode
but not always. A GET of ``/v1/models/{id}`` (or ``/v1beta/models/{id}``) without an operation suffix is one
model of the catalogue; ids contain ``/`` (``provider/model``) and may contain ``:`` (``ollama/llama3:8b``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GatewayError


@dataclass(frozen=True, slots=True)
class Route:
    """What a request asks for: an endpoint, the client protocol it speaks, and values from the path.

    ``public`` routes answer without a client key (health, the mount root's probe answer, and the dashboard
    page and its assets, whose ``item_id`` is the mount-relative path).
    """

    endpoint: str
    protocol: str
    model: str | None = None
    stream: bool = False
    item_id: str | None = None
    public: bool = False
    #: A passthrough route's path under the provider's base URL.
    upstream_path: str | None = None
    #: The credential a ``/rotator/config/providers/{item_id}/credentials/{ref}`` route names.
    ref: str | None = None


_STATIC: dict[str, tuple[str, str, str]] = {
    "/v1/chat/completions": ("POST", "generate", "openai_chat"),
    "/v1/responses": ("POST", "generate", "openai_responses"),
    "/v1/messages": ("POST", "generate", "anthropic_messages"),
    "/v1/messages/count_tokens": ("POST", "count_tokens", "anthropic_messages"),
    "/v1/embeddings": ("POST", "embeddings", "openai_chat"),
    "/v1/models": ("GET", "models", "openai_chat"),
    "/v1beta/models": ("GET", "models", "gemini"),
    "/rotator/health": ("GET", "health", "openai_chat"),
    "/rotator/usage": ("GET", "usage", "openai_chat"),
    "/rotator/credentials": ("GET", "credentials", "openai_chat"),
    "/rotator/metrics": ("GET", "metrics", "openai_chat"),
    "/rotator/requests": ("GET", "requests", "openai_chat"),
}
#: Passthrough routes: mount-relative path to the path under an OpenAI-compatible provider's base URL.
_PASSTHROUGH = {
    f"/v1{path}": path
    for path in (
        "/completions",
        "/images/generations",
        "/images/edits",
        "/audio/transcriptions",
        "/audio/speech",
        "/moderations",
        "/rerank",
    )
}
_GEMINI_OPERATIONS = {
    "generateContent": ("generate", False),
    "streamGenerateContent": ("generate", True),
    "countTokens": ("count_tokens", False),
    "embedContent": ("embed_content", False),
    "batchEmbedContents": ("batch_embed_contents", False),
}


_GENERATE_PATHS = {
    "openai_chat": "/v1/chat/completions",
    "openai_responses": "/v1/responses",
    "anthropic_messages": "/v1/messages",
}


def generate_path(protocol: str, model: str | None = None, *, stream: bool = False) -> str:
    """The route a generation in ``protocol`` goes to (Gemini's names its model and whether it streams).

    Raises:
        ValueError: ``protocol`` has no generation route, or a Gemini request names no model.
    """
    if protocol == "gemini":
        if not model:
            raise ValueError("a Gemini request needs its model")
        return f"/v1beta/models/{model}:{'streamGenerateContent' if stream else 'generateContent'}"
    try:
        return _GENERATE_PATHS[protocol]
    except KeyError:
        known = ", ".join([*_GENERATE_PATHS, "gemini"])
        raise ValueError(f"no generation route for protocol {protocol!r}; known: {known}") from None


def protocol_for_path(path: str) -> str:
    """The protocol whose error shape suits a request to ``path``, even one that matches no route."""
    if path.startswith("/v1beta/") or ":" in path or "%3A" in path:
        return "gemini"
    if path.startswith("/v1/messages"):
        return "anthropic_messages"
    if path.startswith("/v1/responses"):
        return "openai_responses"
    return "openai_chat"


def match(method: str, path: str) -> Route:
    """The route for ``method`` and ``path``.

    Raises:
        GatewayError: 404 for an unknown path, 405 for a known path and the wrong method.
    """
    if path in ("/rotator", "/rotator/") or path.startswith("/rotator/assets/"):
        asset = path if path in ("/rotator", "/rotator/") else path.rstrip("/")  # Litestar appends a slash
        return _check(method, "GET", Route("dashboard", "openai_chat", item_id=asset, public=True), path)
    path = path.rstrip("/") or "/"
    if path == "/" and method in ("GET", "HEAD"):
        return Route("root", "openai_chat", public=True)  # clients (Claude Code) probe the base URL
    static = _STATIC.get(path)
    if static is not None:
        return _check(method, static[0], Route(static[1], static[2], public=static[1] == "health"), path)
    upstream = _PASSTHROUGH.get(path)
    if upstream is not None:
        return _check(method, "POST", Route("passthrough", "openai_chat", upstream_path=upstream), path)
    if path.startswith("/v1/responses/"):
        rest = path[len("/v1/responses/") :]
        response_id, _, tail = rest.partition("/")
        if response_id and not tail:
            if method not in ("GET", "DELETE"):
                raise _not_allowed(method, path, "openai_responses")
            return Route(
                "response_get" if method == "GET" else "response_delete", "openai_responses", item_id=response_id
            )
        if response_id and tail == "input_items":
            return _check(method, "GET", Route("response_input_items", "openai_responses", item_id=response_id), path)
    if path == "/rotator/config" or path.startswith("/rotator/config/"):
        return _config_route(method, path)
    if path.startswith("/rotator/traces/") and path.count("/") == 3:
        return _check(method, "GET", Route("trace", "openai_chat", item_id=path.rsplit("/", 1)[1]), path)
    for prefix in ("/v1beta/models/", "/v1/models/"):
        if path.startswith(prefix):
            model, sep, operation = path[len(prefix) :].replace("%3A", ":").replace("%3a", ":").rpartition(":")
            found = _GEMINI_OPERATIONS.get(operation) if sep else None
            if found is not None and model:
                return _check(method, "POST", Route(found[0], "gemini", model=model, stream=found[1]), path)
            # Not an operation: one model of the catalogue, by an id that may itself hold "/" and ":".
            protocol = "gemini" if prefix == "/v1beta/models/" else "openai_chat"
            return _check(method, "GET", Route("model", protocol, model=path[len(prefix) :]), path)
    raise GatewayError("not_found", f"No route for {method} {path}.")


def _config_route(method: str, path: str) -> Route:
    """The runtime configuration routes; a provider name holds no ``/``, a credential's masked form may."""
    if path == "/rotator/config":
        return _pick(method, {"GET": "config_show", "DELETE": "config_reset"}, path)
    kind, _, rest = path.removeprefix("/rotator/config/").partition("/")
    name, _, tail = rest.partition("/")
    if kind == "scopes" and rest:
        return _pick(method, {"PUT": "config_scope_put", "DELETE": "config_scope_delete"}, path, item_id=rest)
    if kind == "providers" and name:
        if not tail:
            return _pick(method, {"PUT": "config_provider_put", "DELETE": "config_provider_delete"}, path, item_id=name)
        if tail == "credentials":
            return _pick(method, {"POST": "config_credential_add"}, path, item_id=name)
        ref = tail.removeprefix("credentials/")
        if ref != tail and ref:
            return _pick(method, {"DELETE": "config_credential_delete"}, path, item_id=name, ref=ref)
    raise GatewayError("not_found", f"No route for {method} {path}.")


def _pick(
    method: str, endpoints: dict[str, str], path: str, *, item_id: str | None = None, ref: str | None = None
) -> Route:
    if method not in endpoints:
        raise _not_allowed(method, path, "openai_chat")
    return Route(endpoints[method], "openai_chat", item_id=item_id, ref=ref)


def _check(method: str, allowed: str, route: Route, path: str) -> Route:
    if method != allowed:
        raise _not_allowed(method, path, route.protocol)
    return route


def _not_allowed(method: str, path: str, protocol: str) -> GatewayError:
    return GatewayError(
        "method_not_allowed", f"Method {method} is not allowed on {path}.", details={"protocol": protocol}
    )
