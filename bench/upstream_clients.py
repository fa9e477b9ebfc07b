"""The per-request cost of async HTTP clients as the gateway uses them, against FakeUpstream on loopback.

    python bench/upstream_clients.py [--seconds 5] [--clients a,b,...]

FakeUpstream runs in one uvicorn worker (uvloop/httptools when installed) pinned to CPU 0. Each client runs
in its own process pinned to CPU 1, on the same event loop (uvloop when installed), for each of: a JSON POST
with an auth header whose body is read whole, and a streamed read of an SSE answer (``stream: true``, read
chunk by chunk as it arrives), at concurrency 1 and 16. It reports requests/s and the client process's CPU
per request (``time.process_time``: every thread of the process, so clients that run their I/O on Rust or
executor threads are charged for them). The upstream is the same for every client, so the differences are
the client's. Clients whose package is missing are skipped (``pip install -r bench/requirements.txt``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wrk_bench import LOAD_CPU, SERVER_CPU, pinned, start_server, stop_server  # noqa: E402

BODY = json.dumps(
    {
        "model": "bench",
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Say hello in five words."},
        ],
    }
).encode()
STREAM_BODY = json.dumps({**json.loads(BODY), "stream": True}).encode()
HEADERS = {"authorization": "Bearer sk-upstream-bench", "content-type": "application/json"}

# One request: (body) -> awaitable that sends it and reads the whole answer (streamed when ``stream``).
Send = Callable[[bytes], Awaitable[int]]
Factory = Callable[[str, bool, int], Awaitable[tuple[Send, Callable[[], Awaitable[None]]]]]


async def httpcore_pool(module: str, url: str, stream: bool, limit: int) -> tuple[Send, Any]:
    """httpcore's AsyncConnectionPool used directly (the layer under httpx's transport)."""
    httpcore = __import__(module)
    pool = httpcore.AsyncConnectionPool(max_connections=1000, max_keepalive_connections=200)
    headers = list(HEADERS.items())
    ext = {"timeout": {"connect": 10.0, "read": 600.0, "write": 600.0, "pool": 600.0}}

    async def send(body: bytes) -> int:
        if stream:
            async with pool.stream("POST", url, headers=headers, content=body, extensions=ext) as response:
                async for _chunk in response.aiter_stream():
                    pass
                return int(response.status)
        response = await pool.request("POST", url, headers=headers, content=body, extensions=ext)
        return int(response.status)

    return send, pool.aclose


async def httpx_transport(module: str, url: str, stream: bool, limit: int) -> tuple[Send, Any]:
    """What the gateway does today: httpx.Request through AsyncHTTPTransport.handle_async_request."""
    httpx = __import__(module)
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200))
    timeout = httpx.Timeout(600.0, connect=10.0).as_dict()

    async def send(body: bytes) -> int:
        request = httpx.Request("POST", url, headers=HEADERS, content=body, extensions={"timeout": timeout})
        response = await transport.handle_async_request(request)
        try:
            if stream:
                async for _chunk in response.aiter_raw():
                    pass
            else:
                await response.aread()
        finally:
            await response.aclose()
        return int(response.status_code)

    return send, transport.aclose


async def httpx_client(module: str, url: str, stream: bool, limit: int) -> tuple[Send, Any]:
    httpx = __import__(module)
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200), timeout=httpx.Timeout(600, connect=10)
    )

    async def send(body: bytes) -> int:
        if stream:
            async with client.stream("POST", url, headers=HEADERS, content=body) as response:
                async for _chunk in response.aiter_raw():
                    pass
                return int(response.status_code)
        response = await client.post(url, headers=HEADERS, content=body)
        return int(response.status_code)

    return send, client.aclose


async def aiohttp_session(url: str, stream: bool, limit: int) -> tuple[Send, Any]:
    import aiohttp

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0),
        timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=600),
        auto_decompress=False,
    )

    async def send(body: bytes) -> int:
        async with session.post(url, headers=HEADERS, data=body) as response:
            if stream:
                async for _chunk in response.content.iter_any():
                    pass
            else:
                await response.read()
            return response.status

    return send, session.close


async def aiosonic_client(url: str, stream: bool, limit: int) -> tuple[Send, Any]:
    import aiosonic

    client = aiosonic.HTTPClient(connector=aiosonic.TCPConnector())

    async def send(body: bytes) -> int:
        response = await client.post(url, headers=HEADERS, data=body)
        if stream:
            async for _chunk in response.read_chunks():
                pass
        else:
            await response.content()
        return int(response.status_code)

    async def close() -> None:
        await client.connector.cleanup()

    return send, close


async def niquests_session(url: str, stream: bool, limit: int) -> tuple[Send, Any]:
    import niquests

    session = niquests.AsyncSession(pool_connections=4, pool_maxsize=max(limit, 16), disable_http2=True)

    async def send(body: bytes) -> int:
        response = await session.post(url, headers=HEADERS, data=body, stream=stream)
        if stream:
            async for _chunk in await response.iter_raw():
                pass
            await response.close()
        return int(response.status_code)

    return send, session.close


async def curl_cffi_session(url: str, stream: bool, limit: int) -> tuple[Send, Any]:
    from curl_cffi.requests import AsyncSession

    session = AsyncSession(max_clients=max(limit, 16))

    async def send(body: bytes) -> int:
        if stream:
            response = await session.post(url, headers=HEADERS, data=body, stream=True)
            async for _chunk in response.aiter_content():
                pass
            await response.aclose()
            return int(response.status_code)
        response = await session.post(url, headers=HEADERS, data=body)
        return int(response.status_code)

    return send, session.close


async def rnet_client(url: str, stream: bool, limit: int) -> tuple[Send, Any]:
    import rnet

    client = rnet.Client()

    async def send(body: bytes) -> int:
        response = await client.post(url, headers=HEADERS, body=body)
        if stream:
            async with response.stream() as streamer:
                async for _chunk in streamer:
                    pass
        else:
            await response.bytes()
        return int(str(response.status).split()[0]) if not isinstance(response.status, int) else response.status

    async def close() -> None:
        return None

    return send, close


async def pyreqwest_client(url: str, stream: bool, limit: int) -> tuple[Send, Any]:
    from pyreqwest.client import ClientBuilder

    client = ClientBuilder().max_connections(1000).build()

    async def send(body: bytes) -> int:
        builder = client.post(url).headers(HEADERS).body_bytes(body)
        if stream:
            async with builder.build_streamed() as response:
                reader = response.body_reader
                while await reader.read_chunk() is not None:
                    pass
                return response.status
        response = await builder.build().send()
        await response.bytes()
        return response.status

    return send, client.close


async def httpr_client(url: str, stream: bool, limit: int) -> tuple[Send, Any]:
    import httpr

    client = httpr.AsyncClient(max_concurrency=max(limit, 16))

    async def send(body: bytes) -> int:
        if stream:
            async with client.stream("POST", url, headers=HEADERS, content=body) as response:
                async for _chunk in response.aiter_bytes():
                    pass
                return int(response.status_code)
        response = await client.post(url, headers=HEADERS, content=body)
        return int(response.status_code)

    async def close() -> None:
        await client.aclose()

    return send, close


CLIENTS: dict[str, tuple[str, Callable[[str, bool, int], Awaitable[tuple[Send, Any]]]]] = {
    "httpcore pool (direct)": ("httpcore", lambda u, s, c: httpcore_pool("httpcore", u, s, c)),
    "httpx transport (gateway today)": ("httpx", lambda u, s, c: httpx_transport("httpx", u, s, c)),
    "httpx.AsyncClient": ("httpx", lambda u, s, c: httpx_client("httpx", u, s, c)),
    "httpcore2 pool (direct)": ("httpcore2", lambda u, s, c: httpcore_pool("httpcore2", u, s, c)),
    "httpx2 transport": ("httpx2", lambda u, s, c: httpx_transport("httpx2", u, s, c)),
    "httpx2.AsyncClient": ("httpx2", lambda u, s, c: httpx_client("httpx2", u, s, c)),
    "aiohttp.ClientSession": ("aiohttp", aiohttp_session),
    "aiosonic": ("aiosonic", aiosonic_client),
    "niquests.AsyncSession": ("niquests", niquests_session),
    "curl_cffi AsyncSession": ("curl_cffi", curl_cffi_session),
    "rnet.Client": ("rnet", rnet_client),
    "pyreqwest": ("pyreqwest", pyreqwest_client),
    "httpr.AsyncClient": ("httpr", httpr_client),
}


async def measure(name: str, url: str, stream: bool, concurrency: int, seconds: float) -> dict[str, Any]:
    send, close = await CLIENTS[name][1](url, stream, concurrency)
    body = STREAM_BODY if stream else BODY
    counts = {"ok": 0, "bad": 0}
    deadline = 0.0

    async def worker() -> None:
        while time.perf_counter() < deadline:
            status = await send(body)
            counts["ok" if status == 200 else "bad"] += 1

    try:
        for _ in range(3):  # connections up, imports and first-use caches warm
            await asyncio.gather(*(send(body) for _ in range(concurrency)))
        deadline = time.perf_counter() + 0.5
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        counts["ok"] = counts["bad"] = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        deadline = wall0 + seconds
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await close()
    n = counts["ok"] + counts["bad"]
    return {"requests": n, "errors": counts["bad"], "rps": n / wall, "cpu_us": cpu / n * 1e6 if n else 0.0}


def run_worker(args: argparse.Namespace) -> None:
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(measure(args.worker, args.url, args.stream, args.concurrency, args.seconds))
    print("CLIENT_RESULT " + json.dumps(result))


def measure_client(name: str, url: str, seconds: float, row: dict[str, Any], round_no: int) -> None:
    for stream in (False, True):
        for c in (1, 16):
            command = [sys.executable, __file__, "--worker", name, "--url", url,
                       "--concurrency", str(c), "--seconds", str(seconds)]  # fmt: skip
            if stream:
                command.append("--stream")
            done = subprocess.run(pinned(LOAD_CPU, command), capture_output=True, text=True, check=False, timeout=120)
            line = next((x for x in done.stdout.splitlines() if x.startswith("CLIENT_RESULT ")), None)
            label = f"{'stream' if stream else 'json'} c={c}"
            if line is None:
                result: dict[str, Any] = {"failed": (done.stderr.strip().splitlines() or ["no output"])[-1][:200]}
            else:
                result = json.loads(line.removeprefix("CLIENT_RESULT "))
            best = row.get(label)
            if best is None or "rps" not in best:
                row[label] = result
            elif "rps" in result:
                row[label] = {
                    "requests": best["requests"] + result["requests"],
                    "errors": best["errors"] + result["errors"],
                    "rps": max(best["rps"], result["rps"]),
                    "cpu_us": min(best["cpu_us"], result["cpu_us"]),
                }
            shown = {k: round(v, 1) if isinstance(v, float) else v for k, v in result.items()}
            print(f"  round {round_no + 1} {name:<34} {label:<12} {shown}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per client, mode and c")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all clients; the best round counts")
    parser.add_argument("--clients", help="comma-separated subset of: " + ", ".join(CLIENTS))
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return

    names = [n.strip() for n in args.clients.split(",")] if args.clients else list(CLIENTS)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="clients-bench-") as tmp:
        upstream = start_server("upstream", "apps:upstream", SERVER_CPU, Path(tmp))
        try:
            url = upstream.url + "/v1/chat/completions"
            # Rounds go over every client in turn, so a burst of load from elsewhere on the machine hits one
            # round of a client, not all of them; the best round (most req/s, least CPU) is reported.
            for round_no in range(args.rounds):
                for name in names:
                    package = CLIENTS[name][0]
                    try:
                        package_version = version(package.replace("_", "-"))
                    except PackageNotFoundError:
                        print(f"{name}: {package} not installed, skipped")
                        continue
                    row = results.setdefault(name, {"package": f"{package} {package_version}"})
                    measure_client(name, url, args.seconds, row, round_no)
        finally:
            stop_server(upstream)

    print()
    modes = ["json c=1", "json c=16", "stream c=1", "stream c=16"]
    header = ["client", "version"] + [f"{m} req/s" for m in modes] + [f"{m} CPU µs/req" for m in modes]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for name, row in results.items():
        rps = [f"{row[m]['rps']:,.0f}" if "rps" in row[m] else "failed" for m in modes]
        cpu = [f"{row[m]['cpu_us']:,.0f}" if "cpu_us" in row[m] else "-" for m in modes]
        print("| " + " | ".join([name, row["package"], *rps, *cpu]) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
