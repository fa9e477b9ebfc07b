"""The login flows: RFC 8628 device codes, OpenAI's device flow, and PKCE with a loopback redirect.

Each returns the credential as :class:`OAuthTokens`; :func:`login` writes it to a file (mode 0600). Nothing
here prints a token: ``say`` gets only what the user must see (a URL, a user code).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from ..credentials.oauth import files
from ..credentials.oauth.tokens import OAuthTokens, codex_account_id, epoch_seconds, jwt_claims
from ..errors import LoginError
from .specs import LoginSpec

Say = Callable[[str], None]
Sleep = Callable[[float], Awaitable[None]]
_DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_CODEX_DEVICE_LIMIT = 15 * 60.0


async def login(
    spec: LoginSpec,
    path: str,
    *,
    say: Say = print,
    sleep: Sleep = asyncio.sleep,
    transport: httpx.AsyncBaseTransport | None = None,
    on_listening: Callable[[str], Awaitable[None]] | None = None,
) -> OAuthTokens:
    """Run ``spec``'s flow and write the credential file at ``path`` (atomically, mode 0600).

    ``on_listening`` gets the authorization URL once the loopback server of a PKCE flow is listening (the
    CLI opens a browser there; tests drive the callback).
    """
    async with httpx.AsyncClient(transport=transport, timeout=30.0) as client:
        if spec.flow == "device":
            answer = await _device(client, spec, say, sleep)
        elif spec.flow == "codex_device":
            answer = await _codex_device(client, spec, say, sleep)
        else:
            answer = await _pkce(client, spec, say, on_listening)
    tokens = _tokens(spec, answer)
    files.create(path, tokens)
    return tokens


def _tokens(spec: LoginSpec, answer: dict[str, Any]) -> OAuthTokens:
    access = answer.get("access_token")
    if not isinstance(access, str) or not access:
        raise LoginError(f"the token endpoint gave no access_token ({_described(answer)})")
    if spec.result == "github":
        return OAuthTokens(refresh_token=access)  # exchanged for a Copilot token by the gateway
    now = time.time()
    expires_in = answer.get("expires_in")
    tokens = OAuthTokens(
        access_token=access,
        refresh_token=answer.get("refresh_token"),
        expires_at=now + float(expires_in) if isinstance(expires_in, int | float) else None,
        id_token=answer.get("id_token"),
        last_refresh=now,
    )
    account = codex_account_id(tokens.id_token, access) if spec.flow == "codex_device" else None
    if account:
        tokens.fields["account_id"] = account
    if isinstance(answer.get("resource_url"), str):
        tokens.fields["resource_url"] = answer["resource_url"]
    if tokens.expires_at is None:
        tokens.expires_at = epoch_seconds(jwt_claims(access).get("exp"))
    return tokens


async def _device(client: httpx.AsyncClient, spec: LoginSpec, say: Say, sleep: Sleep) -> dict[str, Any]:
    request = {"client_id": spec.client_id, "scope": spec.scope}
    verifier = _verifier()
    if spec.device_pkce:
        request.update(code_challenge=_challenge(verifier), code_challenge_method="S256")
    started = await _post(client, spec.device_url, request, "form")
    code, user_code = started.get("device_code"), started.get("user_code")
    if not code or not user_code:
        raise LoginError(f"the device endpoint gave no device code ({_described(started)})")
    page = started.get("verification_uri_complete") or started.get("verification_uri")
    say(f"Open {page} and enter the code {user_code}")
    interval = float(started.get("interval") or 5)
    deadline = time.monotonic() + float(started.get("expires_in") or 900)
    poll = {"grant_type": _DEVICE_GRANT, "client_id": spec.client_id, "device_code": code}
    if spec.device_pkce:
        poll["code_verifier"] = verifier
    while time.monotonic() < deadline:
        await sleep(interval)
        answer = await _post(client, spec.token_url, poll, "form", allow_error=True)
        error = answer.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # RFC 8628 section 3.5
            continue
        if error:
            raise LoginError(f"the login was not completed ({_described(answer)})")
        return answer
    raise LoginError("the device code expired before the login was completed")


async def _codex_device(client: httpx.AsyncClient, spec: LoginSpec, say: Say, sleep: Sleep) -> dict[str, Any]:
    started = await _post(client, spec.device_url, {"client_id": spec.client_id}, "json")
    device_id, user_code = started.get("device_auth_id"), started.get("user_code") or started.get("usercode")
    if not device_id or not user_code:
        raise LoginError(f"the device endpoint gave no code ({_described(started)})")
    say(f"Open {spec.verify_url} and enter the code {user_code}")
    interval = float(started.get("interval") or 5)
    poll_url = spec.device_url.rsplit("/", 1)[0] + "/token"
    deadline = time.monotonic() + _CODEX_DEVICE_LIMIT
    while time.monotonic() < deadline:
        await sleep(interval)
        response = await client.post(poll_url, json={"device_auth_id": device_id, "user_code": user_code})
        if response.status_code in (403, 404):
            continue  # not approved yet
        granted = _json_of(response)
        if response.status_code != 200 or "authorization_code" not in granted:
            raise LoginError(f"the login was not completed ({_described(granted)})")
        issuer = spec.token_url.removesuffix("/oauth/token")
        exchange = {
            "grant_type": "authorization_code",
            "code": granted["authorization_code"],
            "redirect_uri": f"{issuer}/deviceauth/callback",
            "client_id": spec.client_id,
            "code_verifier": granted.get("code_verifier", ""),
        }
        return await _post(client, spec.token_url, exchange, "form")
    raise LoginError("the device code expired before the login was completed")


async def _pkce(
    client: httpx.AsyncClient,
    spec: LoginSpec,
    say: Say,
    on_listening: Callable[[str], Awaitable[None]] | None,
) -> dict[str, Any]:
    verifier, state = _verifier(), secrets.token_urlsafe(24)
    arrived: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def callback(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode("latin-1")
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        target = line.split(" ")[1] if line.count(" ") >= 2 else ""
        query = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        done = urlsplit(target).path == spec.redirect_path and ("code" in query or "error" in query)
        text = "Login complete; you can close this tab." if done else "Waiting for the login redirect."
        writer.write(
            f"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {len(text)}\r\n\r\n{text}".encode()
        )
        await writer.drain()
        writer.close()
        if done and not arrived.done():
            arrived.set_result(query)

    server = await asyncio.start_server(callback, "127.0.0.1", spec.port)
    port = server.sockets[0].getsockname()[1]
    redirect = f"http://localhost:{port}{spec.redirect_path}"
    query = {
        "client_id": spec.client_id,
        "response_type": "code",
        "redirect_uri": redirect,
        "scope": spec.scope,
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
        "state": state,
        **spec.params,
    }
    url = f"{spec.authorize_url}?{urlencode(query)}"
    say(f"Open this URL in a browser to log in:\n{url}")
    try:
        async with server:
            if on_listening is not None:
                await on_listening(url)
            answer = await arrived
    finally:
        server.close()
    if answer.get("state") != state:
        raise LoginError("the login redirect carried the wrong state (another login, or a forged redirect)")
    if "error" in answer:
        raise LoginError(f"the login was refused ({answer['error']})")
    exchange = {
        "grant_type": "authorization_code",
        "code": answer["code"].split("#")[0],
        "redirect_uri": redirect,
        "client_id": spec.client_id,
        "code_verifier": verifier,
    }
    if spec.client_secret:
        exchange["client_secret"] = spec.client_secret
    if spec.state_in_exchange:
        exchange["state"] = state
    return await _post(client, spec.token_url, exchange, spec.token_body)


async def _post(
    client: httpx.AsyncClient, url: str, fields: dict[str, str], body: str, *, allow_error: bool = False
) -> dict[str, Any]:
    headers = {"accept": "application/json"}
    if body == "json":
        response = await client.post(url, json=fields, headers=headers)
    else:
        response = await client.post(url, data=fields, headers=headers)
    answer = _json_of(response)
    if response.status_code >= 400 and not (allow_error and "error" in answer):
        raise LoginError(f"{url} answered {response.status_code} ({_described(answer)})")
    return answer


def _json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _described(answer: dict[str, Any]) -> str:
    said = [str(answer[k]) for k in ("error", "error_description", "message", "detail") if answer.get(k)]
    return ": ".join(said)[:300] or "no details"


def _verifier() -> str:
    return secrets.token_urlsafe(64)[:96]


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
