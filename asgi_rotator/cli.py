"""The ``asgi-rotator`` command: serve the gateway, check a config, inspect a running gateway."""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import gc
import importlib.util
import json
import os
import sys
import time
import webbrowser
from collections.abc import Sequence
from typing import Any

from .config import RotatorConfig, load_config
from .config.models import CredentialConfig
from .credentials.identity import mask
from .errors import ConfigError, LoginError
from .login.flows import login
from .login.specs import LOGINS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``asgi-rotator`` console script."""
    parser = argparse.ArgumentParser(prog="asgi-rotator", description="An LLM API gateway as an ASGI app.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the gateway with uvicorn")
    serve.add_argument("--config", help="YAML or JSON config file (default: $ROTATOR_CONFIG, then the environment)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (share state via Redis)")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--fake-upstream",
        action="store_true",
        help="also serve a FakeUpstream under /fake-upstream (for examples/demo.yaml: no keys needed)",
    )

    check = commands.add_parser("check", help="validate a config and list providers with masked credentials")
    check.add_argument("--config", help="YAML or JSON config file")

    login = commands.add_parser("login", help="log in to a subscription provider and write its credential file")
    login.add_argument("preset", choices=sorted(LOGINS), help="the subscription preset")
    login.add_argument("--out", help="credential file to write (default ~/.config/asgi-rotator/oauth/PRESET.json)")
    for flag in ("token-url", "device-url", "authorize-url"):
        login.add_argument(f"--{flag}", help=f"override the preset's {flag.replace('-', ' ')}")
    login.add_argument("--port", type=int, help="loopback port for the browser redirect (PKCE logins)")
    login.add_argument("--no-browser", action="store_true", help="print the login URL instead of opening it")

    remotes = {
        "keys": "credential states of a running gateway",
        "models": "the model catalogue of a running gateway (configured, discovered, aliases)",
        "usage": "usage and cost of a running gateway, by provider and model",
        "trace": "pretty-print one request's transform passes",
    }
    for name, help_text in remotes.items():
        remote = commands.add_parser(name, help=help_text)
        remote.add_argument("--url", default="http://127.0.0.1:8000", help="the gateway's base URL (its mount)")
        remote.add_argument("--key", default=os.environ.get("PROXY_API_KEY"), help="a client or admin key")
        if name == "usage":
            remote.add_argument("--window", default="total", choices=["total", "minute", "hour", "day"])
        if name == "trace":
            remote.add_argument("request_id", help="the x-request-id of the request")

    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "login":
            return _login(args)
        if args.command == "check":
            return _check(load_config(args.config))
        if args.command == "usage":
            return _usage(args.url, args.key, args.window)
        if args.command == "trace":
            return _trace(args.url, args.key, args.request_id)
        if args.command == "models":
            return _models(args.url, args.key)
        return _keys(args.url, args.key)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def server_stack() -> tuple[str, str]:
    """uvicorn's event loop and HTTP parser: uvloop and httptools when installed (the ``serve`` extra), as
    uvicorn's ``auto`` would choose, named here so the startup line can say which."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    config = load_config(args.config)  # fail here, with a readable message, rather than in a worker
    loop, http = server_stack()
    hint = ""
    if (loop, http) != ("uvloop", "httptools"):
        hint = " (pip install 'asgi-rotator[serve]' for uvloop and httptools)"
    print(f"asgi-rotator: serving on {loop} with {http}{hint}", file=sys.stderr)
    if args.config:
        os.environ["ROTATOR_CONFIG"] = os.path.abspath(args.config)
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "loop": loop,
        "http": http,
        "log_level": args.log_level,
        "log_config": _log_config(args.log_level),
    }
    if args.workers > 1:
        if config.state.backend == "memory":
            print("warning: several workers on memory state do not share cooldowns or usage", file=sys.stderr)
        uvicorn.run("asgi_rotator.cli:app_from_environment", factory=True, workers=args.workers, **options)
    else:
        from .app import RotatorASGI

        app: Any = RotatorASGI(config)
        if args.fake_upstream:
            app = with_fake_upstream(app)
        # Everything imported and configured by now lives as long as the process: leaving it out of the
        # collector's scans saves about a tenth of the CPU of each request (docs/performance.md).
        gc.freeze()
        uvicorn.run(app, **options)
    return 0


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging setup, plus the gateway's own loggers (request lines included) on its stderr handler.

    Mounted in a host, the gateway leaves logging to the host; served by this command, it is the host.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["asgi_rotator"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def with_fake_upstream(app: Any) -> Any:
    """``app`` with a :class:`FakeUpstream` answering under ``/fake-upstream``."""
    from .testing import FakeUpstream

    upstream = FakeUpstream()
    prefix = "/fake-upstream"

    async def composite(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(prefix + "/"):
            await upstream({**scope, "path": scope["path"][len(prefix) :]}, receive, send)
        else:
            await app(scope, receive, send)

    return composite


def app_from_environment() -> Any:
    """App factory for uvicorn workers: the config file comes from ``ROTATOR_CONFIG``."""
    from .app import RotatorASGI

    app = RotatorASGI()
    gc.freeze()
    return app


def _login(args: argparse.Namespace) -> int:
    spec = LOGINS[args.preset]
    overrides = {
        "token_url": args.token_url,
        "device_url": args.device_url,
        "authorize_url": args.authorize_url,
        "port": args.port,
    }
    spec = dataclasses.replace(spec, **{k: v for k, v in overrides.items() if v is not None})
    path = os.path.expanduser(args.out or f"~/.config/asgi-rotator/oauth/{args.preset}.json")

    async def open_browser(url: str) -> None:
        if not args.no_browser:
            webbrowser.open(url)

    try:
        asyncio.run(login(spec, path, on_listening=open_browser))
    except LoginError as exc:
        print(f"login failed: {exc}", file=sys.stderr)
        return 1
    print(f"\nwrote {path} (mode 0600); add it to your config:\n")
    print(f"providers:\n  {args.preset}:\n    preset: {args.preset}\n    credentials: [{{oauth_file: {path}}}]")
    return 0


def _shown(credential: CredentialConfig) -> str:
    if credential.oauth_file is not None:
        missing = "" if os.path.exists(os.path.expanduser(credential.oauth_file)) else " (missing)"
        return f"oauth:{credential.oauth_file}{missing}"
    assert credential.key is not None  # the config model allows key or oauth_file
    return mask(credential.key.get_secret_value())


def _check(config: RotatorConfig) -> int:
    rows = []
    for name, provider in config.providers.items():
        keys = ", ".join(_shown(c) for c in provider.credentials)
        keys = keys or ("(keyless)" if provider.auth == "none" else "(none)")
        models = ", ".join(provider.models) or "(any)"
        rows.append([name, provider.protocol, provider.base_url, keys, models])
    print(table(["provider", "protocol", "base_url", "credentials", "models"], rows))
    if not config.auth.api_keys:
        print("\nwarning: no auth.api_keys: the gateway would be open to anyone who can reach it")
    print(f"\nconfig OK: {len(config.providers)} provider(s), state backend {config.state.backend}")
    return 0


def _fetch(url: str, key: str | None, path: str) -> Any:
    import httpx

    headers = {"authorization": f"Bearer {key}"} if key else {}
    reply = httpx.get(url.rstrip("/") + path, headers=headers, timeout=10)
    if reply.status_code != 200:
        print(f"error: the gateway answered {reply.status_code}: {reply.text[:200]}", file=sys.stderr)
        return None
    return reply.json()


def _usage(url: str, key: str | None, window: str) -> int:
    report = _fetch(url, key, f"/rotator/usage?window={window}")
    if report is None:
        return 1
    rows = []
    for section in ("by_provider", "by_model"):
        for name, entry in report.get(section, {}).items():
            rows.append(_usage_row(name, entry))
    rows.append(_usage_row("TOTAL", report.get("totals", {})))
    header = ["name", "requests", "input", "cache read", "cache write", "output", "reasoning", "cost USD"]
    print(table(header, rows))
    return 0


def _usage_row(name: str, entry: dict[str, Any]) -> list[Any]:
    cost = entry.get("cost_usd")
    fields = (
        "requests",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
    )
    return [name, *(entry.get(f, 0) for f in fields), "unknown" if cost is None else f"{cost:.6f}"]


def _trace(url: str, key: str | None, request_id: str) -> int:
    trace = _fetch(url, key, f"/rotator/traces/{request_id}")
    if trace is None:
        return 1
    for entry in trace["entries"]:
        where = "/".join(str(entry[k]) for k in ("provider", "model") if entry.get(k))
        print(
            f"{entry.get('elapsed_ms', 0):>9.1f} ms  {entry['component']:<8} {entry['direction']:<9} "
            f"{entry['pass_name']}{'  ' + where if where else ''}"
        )
        data = entry.get("data")
        if data is not None:
            text = data if isinstance(data, str) else json.dumps(data, indent=2, default=str)
            print("\n".join("        " + line for line in text.splitlines()[:40]))
    return 0


def _models(url: str, key: str | None) -> int:
    reply = _fetch(url, key, "/v1/models")
    if reply is None:
        return 1
    print(table(["model", "provider"], [[m["id"], m["owned_by"]] for m in reply["data"]]))
    return 0


def _keys(url: str, key: str | None) -> int:
    reply = _fetch(url, key, "/rotator/credentials")
    if reply is None:
        return 1
    rows = [
        [
            r["provider"],
            r["credential"],
            r["scope"] or "-",
            r["tier"],
            r["state"],
            r["reason"] or "-",
            f"{r['cooldown_remaining']:.0f}s" if r["cooldown_remaining"] else "-",
            r["in_flight"],
            r["requests_this_minute"],
            r["fair_cycle"],
            _oauth_cell(r.get("oauth")),
        ]
        for r in reply["credentials"]
    ]
    header = [
        "provider",
        "credential",
        "scope",
        "tier",
        "state",
        "reason",
        "cooldown",
        "in flight",
        "req/min",
        "fair cycle",
        "oauth (expires in, last refresh)",
    ]
    print(table(header, rows))
    return 0


def _oauth_cell(oauth: dict[str, Any] | None) -> str:
    """An OAuth credential's expiry and last refresh, e.g. ``52m, refreshed 2026-01-02 03:04Z``."""
    if not oauth:
        return "-"
    if oauth.get("error"):
        return f"error: {oauth['error']}"
    left = oauth.get("expires_in")
    expiry = "unknown" if left is None else ("expired" if left <= 0 else _duration(left))
    last = oauth.get("last_refresh")
    when = time.strftime("%Y-%m-%d %H:%MZ", time.gmtime(last)) if last else "never"
    return f"{expiry}, refreshed {when}"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m" if seconds >= 60 else f"{seconds:.0f}s"


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A plain aligned text table."""
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
