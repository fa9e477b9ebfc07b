"""A dev server for the dashboard: the shipped assets plus realistic fake JSON for every endpoint it reads.

    python scripts/dashboard_harness.py --port 8377           # then open http://127.0.0.1:8377/llm/rotator/#key=demo-key
    python scripts/dashboard_harness.py --no-series           # like today's gateway: the page builds its own series
    python scripts/dashboard_harness.py --empty               # a fresh gateway: no traffic yet
    python scripts/dashboard_harness.py --no-requests         # /rotator/requests answers 404 (not implemented)

The page is served under a mount prefix (``--prefix``, default ``/llm``) at both ``{prefix}/rotator`` and
``{prefix}/rotator/`` so the page's relative URLs are exercised from both. JSON needs ``Authorization: Bearer KEY``
(``--key``, default ``demo-key``) and answers 401 in the gateway's error shape otherwise. The data is
deterministic for a given start time, so screenshots are comparable. Loopback only; standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asgi_rotator.dashboard import asset, content_security_policy  # noqa: E402

BUCKETS = {"minute": 60, "hour": 3600, "day": 86400}
SPAN = {"minute": 30, "hour": 24, "day": 14}
# provider/model: (requests per minute at peak, mean input tokens, mean output tokens, $ per 1M in, $ per 1M out)
MODELS: dict[str, tuple[float, int, int, float | None, float | None]] = {
    "openai/gpt-4.1": (9.0, 2400, 420, 2.0, 8.0),
    "openai/gpt-4.1-mini": (14.0, 1500, 300, 0.4, 1.6),
    "anthropic/claude-sonnet-4": (7.0, 3100, 650, 3.0, 15.0),
    "anthropic/claude-haiku-3.5": (5.0, 1200, 260, 0.8, 4.0),
    "gemini/gemini-2.5-pro": (4.0, 2800, 700, 1.25, 10.0),
    "gemini/gemini-2.5-flash": (8.0, 1700, 380, 0.3, 2.5),
    "openrouter/deepseek-chat": (3.0, 2000, 500, 0.27, 1.1),
    "groq/llama-3.3-70b": (2.5, 900, 220, 0.59, 0.79),
}
CREDENTIALS: list[dict[str, Any]] = [
    # provider, masked, scope, tier, state, reason, cooldown (s, from start), in_flight, max, failures
    dict(p="openai", c="sk-...4f2a", scope=None, tier=1, state="available", cd=0, busy=2, max=8, fail=0),
    dict(
        p="openai",
        c="sk-...9c1e",
        scope=None,
        tier=1,
        state="cooling",
        reason="rate_limit",
        cd=95,
        busy=0,
        max=8,
        fail=3,
    ),
    dict(p="openai", c="sk-...77b0", scope=None, tier=2, state="available", cd=0, busy=0, max=None, fail=0),
    dict(p="openai", c="sk-...e013", scope="team-research", tier=1, state="busy", cd=0, busy=4, max=4, fail=0),
    dict(p="anthropic", c="sk-ant-...Qx8w", scope=None, tier=1, state="available", cd=0, busy=3, max=10, fail=0),
    dict(
        p="anthropic",
        c="sk-ant-...L2mr",
        scope=None,
        tier=1,
        state="benched",
        reason="auth",
        cd=1740,
        busy=0,
        max=10,
        fail=6,
    ),
    dict(p="anthropic", c="sk-ant-...p0Zd", scope=None, tier=2, state="available", cd=0, busy=0, max=10, fail=1),
    dict(p="gemini", c="AIza...k3Fq", scope=None, tier=1, state="available", cd=0, busy=1, max=None, fail=0),
    dict(
        p="gemini",
        c="AIza...Wm7c",
        scope=None,
        tier=1,
        state="cooling",
        reason="quota_exceeded",
        cd=3420,
        busy=0,
        max=None,
        fail=2,
    ),
    dict(p="gemini", c="AIza...T1ns", scope=None, tier=1, state="available", cd=0, busy=0, max=None, fail=0),
    dict(p="openrouter", c="sk-or-...a91b", scope=None, tier=1, state="available", cd=0, busy=1, max=16, fail=0),
    dict(
        p="groq",
        c="gsk_...Zr4d",
        scope="team-research",
        tier=1,
        state="cooling",
        reason="server_error",
        cd=22,
        busy=0,
        max=None,
        fail=1,
    ),
]


def _noise(*parts: object) -> float:
    """A deterministic value in [0, 1) for the given parts."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _rate(model: str, minute: int) -> float:
    """Requests of ``model`` in the minute starting at epoch minute ``minute``: a daily wave plus noise."""
    peak = MODELS[model][0]
    hour_of_day = (minute % 1440) / 60
    wave = 0.55 + 0.45 * math.sin((hour_of_day - 8) / 24 * 2 * math.pi)
    burst = 1.0 + 0.6 * math.sin(minute / 7.0 + len(model))
    return max(0.0, peak * wave * burst * (0.5 + _noise(model, minute)))


def _entry(requests: float, model: str) -> dict[str, Any]:
    _, mean_in, mean_out, price_in, price_out = MODELS[model]
    n = int(round(requests))
    tokens_in, tokens_out = n * mean_in, n * mean_out
    cost = (
        None
        if price_in is None or price_out is None
        else round((tokens_in * price_in + tokens_out * price_out) / 1e6, 9)
    )
    return {
        "requests": n,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cache_read_tokens": n * mean_in // 5 if model.startswith("anthropic") else 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": n * 120 if "gpt" in model else 0,
        "cost_usd": None if n and cost is None else (cost or 0.0),
    }


def _merge(entries: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "requests": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost_usd": 0.0,
    }
    for entry in entries:
        for field, value in entry.items():
            if field == "cost_usd":
                out[field] = None if value is None or out[field] is None else round(out[field] + value, 9)
            else:
                out[field] += value
    return out


class FakeGateway:
    """Fake ``/rotator/*`` answers, consistent with one another and with the clock."""

    def __init__(self, *, started: float, empty: bool = False) -> None:
        self.started = started
        self.empty = empty
        self.rng = random.Random(int(started) // 60)

    # -- usage
    def _bucket(self, start: int, size: int, now: float) -> dict[str, dict[str, Any]]:
        """Per-model entries for the bucket [start, start + size), cut at ``now``."""
        if self.empty:
            return {}
        out: dict[str, dict[str, Any]] = {}
        first, last = start // 60, int(min(start + size, now) // 60)
        step = max(1, (last - first) // 240)  # long buckets are sampled, then scaled
        for model in MODELS:
            total = sum(_rate(model, m) for m in range(first, last + 1, step)) * step
            if last * 60 + 60 > now:  # the current minute counts only its elapsed part
                total -= _rate(model, last) * (1 - (now % 60) / 60) * step
            if total >= 0.5:
                out[model] = _entry(total, model)
        return out

    def _report(self, models: dict[str, dict[str, Any]]) -> dict[str, Any]:
        by_provider: dict[str, list[dict[str, Any]]] = {}
        for name, entry in models.items():
            by_provider.setdefault(name.split("/", 1)[0], []).append(entry)
        return {
            "totals": _merge(list(models.values())),
            "by_provider": {p: _merge(e) for p, e in sorted(by_provider.items())},
            "by_model": dict(sorted(models.items())),
        }

    def usage(self, window: str, series: str | None, now: float) -> dict[str, Any]:
        if window == "total":
            day = self._bucket(int(now // 86400) * 86400, 86400, now)
            models = {m: _entry(e["requests"] * 23.4, m) for m, e in day.items()}
            report = self._report(models)
        else:
            size = BUCKETS[window]
            start = int(now // size) * size
            report = self._report(self._bucket(start, size, now))
            report["window_start"] = start
        if series in BUCKETS:
            size = BUCKETS[series]
            current = int(now // size) * size
            points = []
            for i in range(SPAN[series] - 1, -1, -1):
                start = current - i * size
                rep = self._report(self._bucket(start, size, now))
                points.append({"t": start, "by_provider": rep["by_provider"], "by_model": rep["by_model"]})
            report["series"] = points
            report["bucket_seconds"] = size
        return report

    # -- credentials
    def credentials(self, now: float) -> dict[str, Any]:
        rows = []
        minute = int(now // 60)
        for i, spec in enumerate(CREDENTIALS):
            remaining = max(0.0, self.started + spec["cd"] - now) if spec["cd"] else 0.0
            cooling = remaining > 0
            in_flight = 0 if self.empty else spec["busy"]
            state = spec["state"] if cooling or (spec["state"] == "busy" and in_flight) else "available"
            rows.append(
                {
                    "provider": spec["p"],
                    "id": hashlib.sha256(spec["c"].encode()).hexdigest()[:16],
                    "credential": spec["c"],
                    "scope": spec["scope"],
                    "tier": spec["tier"],
                    "state": state,
                    "reason": spec.get("reason") if cooling else None,
                    "cooldown_scope": "credential" if cooling else None,
                    "cooldown_remaining": round(remaining, 3),
                    "in_flight": in_flight,
                    "max_concurrency": spec["max"],
                    "failures": 0 if self.empty else spec["fail"],
                    "requests_this_minute": 0 if self.empty or cooling else int(3 + 9 * _noise(i, minute)),
                    "fair_cycle": "exhausted" if i == 2 else "in_turn",
                }
            )
        return {"credentials": rows}

    # -- requests and traces
    def _requests(self, now: float) -> list[dict[str, Any]]:
        if self.empty:
            return []
        out = []
        t = now - 1.5
        minute = int(now // 60)
        names = list(MODELS)
        for i in range(60):
            r = _noise("req", minute, i)
            model = names[int(_noise("model", minute, i) * len(names))]
            provider = model.split("/", 1)[0]
            creds = [c["c"] for c in CREDENTIALS if c["p"] == provider]
            stream = r < 0.45
            attempts: list[dict[str, Any]] = []
            status = 200
            if r > 0.93:  # rate limited, rotated to the next key
                attempts.append(_attempt(model, creds[-1], "rate_limit", 429, 180 + 200 * r))
            if 0.965 < r:  # and again, then another target
                attempts.append(_attempt(model, creds[0], "server_error", 503, 900 * r))
                model = "openrouter/deepseek-chat"
                creds = ["sk-or-...a91b"]
            if 0.90 < r <= 0.915:  # the client's mistake
                status = 400
                attempts.append(_attempt(model, creds[0], "invalid_request", 400, 140))
            elif 0.915 < r <= 0.925:  # every target failed
                status = 502
                attempts.append(_attempt(model, creds[0], "server_error", 502, 2300))
                attempts.append(_attempt("openrouter/deepseek-chat", "sk-or-...a91b", "timeout", 504, 30000))
            else:
                attempts.append(
                    _attempt(model, creds[int(r * 97) % len(creds)], "ok", 200, 400 + 5200 * _noise("lat", i))
                )
            latency = sum(a["duration_ms"] for a in attempts) + 3.0 + 4 * r
            _, mean_in, mean_out, price_in, price_out = MODELS[model]
            tokens_in = int(mean_in * (0.4 + 1.2 * _noise("in", i))) if status == 200 else 0
            tokens_out = int(mean_out * (0.3 + 1.4 * _noise("out", i))) if status == 200 else 0
            cost = (
                None if price_in is None or price_out is None else (tokens_in * price_in + tokens_out * price_out) / 1e6
            )
            rid = hashlib.sha256(f"{minute}:{i}".encode()).hexdigest()[:24]
            out.append(
                {
                    "id": rid,
                    "time": round(t, 3),
                    "scope": "team-research" if _noise("scope", i) < 0.2 else None,
                    "protocol": ["openai_chat", "anthropic_messages", "openai_responses", "gemini"][i % 4],
                    "model": ["smart", model, "fast", model][i % 4] if i % 4 in (0, 2) else model,
                    "target": model,
                    "credential": attempts[-1]["credential"],
                    "status": status,
                    "stream": stream,
                    "attempts": attempts,
                    "latency_ms": round(latency, 1),
                    "input_tokens": tokens_in,
                    "output_tokens": tokens_out,
                    "cost_usd": None if cost is None else round(cost, 9),
                }
            )
            t -= 2 + 25 * _noise("gap", minute, i)
        return out

    def requests(self, limit: int, now: float) -> dict[str, Any]:
        return {"requests": self._requests(now)[:limit]}

    def trace(self, request_id: str, now: float) -> dict[str, Any] | None:
        for summary in self._requests(now):
            if summary["id"] == request_id:
                return {"request_id": request_id, "entries": _trace_entries(summary)}
        return None


def _attempt(target: str, credential: str, outcome: str, status: int, ms: float) -> dict[str, Any]:
    return {
        "target": target,
        "credential": credential,
        "outcome": outcome,
        "status": status,
        "duration_ms": round(ms, 1),
    }


def _trace_entries(s: dict[str, Any]) -> list[dict[str, Any]]:
    """A trace shaped like the gateway's JSONL records for a request summary."""
    entries: list[dict[str, Any]] = []
    elapsed = 0.2
    start = s["time"] - s["latency_ms"] / 1000

    def add(component: str, pass_name: str, direction: str, data: Any, **extra: Any) -> None:
        nonlocal elapsed
        entries.append(
            {
                "sequence": len(entries) + 1,
                "request_id": s["id"],
                "timestamp_utc": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + elapsed / 1000))
                + f".{int((start * 1000 + elapsed) % 1000):03d}000+00:00",
                "elapsed_ms": round(elapsed, 3),
                "component": component,
                "pass_name": pass_name,
                "direction": direction,
                "protocol": s["protocol"],
                "provider": extra.pop("provider", None),
                "model": extra.pop("model", None),
                "credential_id": extra.pop("credential_id", None),
                "transport": "http",
                "session_id": "s:" + s["id"][:16],
                "metadata": extra.pop("metadata", {}),
                "data": data,
            }
        )
        elapsed += extra.pop("after", 0.4)

    body = {
        "model": s["model"],
        "messages": [{"role": "user", "content": "Summarise the incident report in three bullets."}],
    }
    if s["stream"]:
        body["stream"] = True
    add(
        "client",
        "raw_client_request",
        "request",
        {"method": "POST", "path": "/v1/chat/completions", "headers": {"authorization": "[redacted]"}, "body": body},
    )
    targets = list(dict.fromkeys(a["target"] for a in s["attempts"]))
    add(
        "client",
        "parsed_unified_request",
        "request",
        {"__class__": "UnifiedRequest", "model": s["model"], "stream": s["stream"], "max_tokens": None},
        metadata={"warnings": [], "targets": targets},
    )
    add(
        "client",
        "routing_decision",
        "metadata",
        {"candidates": targets, "chosen": targets[0], "why": "first healthy target in order"},
    )
    for attempt in s["attempts"]:
        provider, model = attempt["target"].split("/", 1)
        add(
            "provider",
            "after_request_adapters",
            "request",
            {"model": model, "messages": body["messages"]},
            metadata={"adapters": []},
        )
        add(
            "provider",
            "provider_request",
            "request",
            {"model": model, "messages": body["messages"]},
            provider=provider,
            model=model,
            credential_id=attempt["credential"],
            metadata={"url": f"https://upstream.invalid/{provider}/v1/chat/completions"},
            after=attempt["duration_ms"],
        )
        ok = attempt["outcome"] == "ok"
        if not ok:
            add(
                "provider",
                "raw_provider_response",
                "response",
                {"error": {"type": attempt["outcome"], "message": f"Upstream answered {attempt['status']}."}},
                metadata={"status": attempt["status"]},
            )
        add(
            "provider",
            "routing_target_attempt_succeeded" if ok else "routing_target_attempt_failed",
            "metadata",
            {
                "target": attempt["target"],
                "credential": attempt["credential"],
                "outcome": attempt["outcome"],
                "status": attempt["status"],
                "cooldown": None if ok else 30.0,
                "cooldown_scope": None if ok else "credential",
                "duration": attempt["duration_ms"] / 1000,
            },
        )
        if not ok and attempt["status"] == 429:
            add(
                "provider",
                "cooldown_started",
                "metadata",
                {"scope": "credential", "seconds": 30, "source": "retry-after"},
            )
    if s["status"] == 200:
        add(
            "provider",
            "parsed_unified_response",
            "response",
            {
                "__class__": "UnifiedResponse",
                "parts": [{"__class__": "Text", "text": "• Root cause …"}],
                "stop_reason": "end",
            },
        )
    add(
        "client",
        "final_client_response",
        "response",
        {"status": s["status"], "headers": {"content-type": "application/json", "x-rotator-provider": s["target"]}},
    )
    add(
        "provider",
        "usage_accounting_summary",
        "metadata",
        {"__class__": "Usage", "input_tokens": s["input_tokens"], "output_tokens": s["output_tokens"]},
        metadata={"cost_usd": s["cost_usd"], "cost_source": "pricing" if s["cost_usd"] is not None else "unknown"},
    )
    return entries


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    key: str = "demo-key",
    prefix: str = "/llm",
    series: bool = True,
    empty: bool = False,
    requests_endpoint: bool = True,
) -> ThreadingHTTPServer:
    """A server (not yet serving) for the dashboard and fake JSON; ``port=0`` picks a free port."""
    fake = FakeGateway(started=time.time(), empty=empty)
    root = prefix.rstrip("/") + "/rotator"

    class Handler(BaseHTTPRequestHandler):
        server_version = "dashboard-harness"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.send_header("cache-control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _error(self, status: int, code: str, message: str) -> None:
            self._json(status, {"error": {"message": message, "type": f"{code}_error", "param": None, "code": code}})

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            now = time.time()
            if url.path in ("", "/"):
                self._send(302, b"", "text/plain", {"location": root + "/"})
                return
            asset.cache_clear()  # edits to the assets show on reload
            if url.path in (root, root + "/"):
                body, content_type = asset("index.html") or (b"", "")
                self._send(200, body, content_type, {"content-security-policy": content_security_policy()})
                return
            if url.path.startswith(root + "/assets/"):
                found = asset(url.path[len(root + "/assets/") :])
                if found is None:
                    self._error(404, "not_found", "No such asset.")
                else:
                    self._send(200, found[0], found[1])
                return
            if not url.path.startswith(root + "/"):
                self._error(404, "not_found", f"No route for GET {url.path}.")
                return
            name = url.path[len(root) + 1 :]
            if name == "health":
                health = {
                    "status": "ok",
                    "providers": sorted({c["p"] for c in CREDENTIALS}),
                    "state_backend": "redis",
                    "auth": "keys",
                }
                self._json(200, health)
                return
            if self.headers.get("authorization", "") != f"Bearer {key}":
                self._error(401, "authentication", "Missing or invalid API key for this gateway.")
                return
            if name == "credentials":
                self._json(200, fake.credentials(now))
            elif name == "usage":
                window = query.get("window", ["total"])[-1]
                if window not in ("total", *BUCKETS):
                    self._error(
                        400, "invalid_request", "Query parameter 'window' must be one of total, minute, hour, day."
                    )
                    return
                self._json(200, fake.usage(window, query.get("series", [None])[-1] if series else None, now))
            elif name == "requests" and requests_endpoint:
                self._json(200, fake.requests(int(query.get("limit", ["50"])[-1]), now))
            elif name.startswith("traces/"):
                trace = fake.trace(name[len("traces/") :], now)
                if trace is None:
                    self._error(404, "not_found", f"No trace for request '{name[len('traces/') :]}'.")
                else:
                    self._json(200, trace)
            else:
                self._error(404, "not_found", f"No route for GET {url.path}.")

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8377)
    parser.add_argument("--key", default="demo-key")
    parser.add_argument("--prefix", default="/llm")
    parser.add_argument("--no-series", action="store_true", help="no server-side series (the page accumulates its own)")
    parser.add_argument("--empty", action="store_true", help="a gateway that has served nothing yet")
    parser.add_argument("--no-requests", action="store_true", help="answer 404 on /rotator/requests")
    args = parser.parse_args()
    server = make_server(
        "127.0.0.1",
        args.port,
        key=args.key,
        prefix=args.prefix,
        series=not args.no_series,
        empty=args.empty,
        requests_endpoint=not args.no_requests,
    )
    print(f"dashboard: http://127.0.0.1:{server.server_address[1]}{args.prefix}/rotator/#key={args.key}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
