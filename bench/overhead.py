"""Measure the gateway's own overhead: the same requests straight to FakeUpstream, then through the gateway.

Both servers run as separate uvicorn processes on loopback; this process only generates load. It reports
p50/p99 latency and throughput for each path, and the gateway's cost as a ratio and in milliseconds.

    python bench/overhead.py --requests 2000 --concurrency 32 [--stream] [--state redis]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx

BODY = {"model": "fake/bench-model", "messages": [{"role": "user", "content": "Say hello."}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, *args], env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/", timeout=0.5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    assert process.stderr is not None
                    raise RuntimeError(f"server did not start: {process.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


async def load(url: str, headers: dict[str, str], requests: int, concurrency: int, stream: bool) -> dict[str, float]:
    latencies: list[float] = []
    queue = iter(range(requests))
    body = {**BODY, "stream": stream}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            for _ in queue:
                started = time.perf_counter()
                if stream:
                    async with client.stream("POST", url, json=body, headers=headers) as reply:
                        async for _chunk in reply.aiter_raw():
                            pass
                        assert reply.status_code == 200
                else:
                    reply = await client.post(url, json=body, headers=headers)
                    assert reply.status_code == 200, reply.text
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, 50))))  # warm-up connections
        latencies.clear()
        queue = iter(range(requests))
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "rps": requests / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--state", choices=["memory", "redis"], default="memory")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()

    upstream_port, gateway_port = free_port(), free_port()
    uvicorn = ["-m", "uvicorn", "--log-level", "warning", "--no-access-log", "--host", "127.0.0.1"]
    config = {
        "providers": {
            "fake": {
                "protocol": "openai_chat",
                "base_url": f"http://127.0.0.1:{upstream_port}/v1",
                "credentials": ["bench-key-1", "bench-key-2", "bench-key-3", "bench-key-4"],
            }
        },
        "auth": {"api_keys": ["bench-proxy-key"]},
        "state": {"backend": args.state, "url": args.redis_url if args.state == "redis" else None},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
    headers = {"authorization": "Bearer bench-proxy-key"}
    with (
        server(
            [*uvicorn, "--factory", "asgi_rotator.testing:FakeUpstream", "--port", str(upstream_port)], upstream_port
        ) as upstream_url,
        server(
            [*uvicorn, "--factory", "asgi_rotator.cli:app_from_environment", "--port", str(gateway_port)],
            gateway_port,
            env={"ROTATOR_CONFIG": handle.name},
        ) as gateway_url,
    ):
        direct = asyncio.run(
            load(upstream_url + "/v1/chat/completions", headers, args.requests, args.concurrency, args.stream)
        )
        through = asyncio.run(
            load(gateway_url + "/v1/chat/completions", headers, args.requests, args.concurrency, args.stream)
        )
    os.unlink(handle.name)
    mode = "stream" if args.stream else "non-stream"
    print(f"{args.requests} {mode} requests at concurrency {args.concurrency}, state {args.state}")
    print(f"{'path':<10}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}")
    for name, result in (("direct", direct), ("gateway", through)):
        print(f"{name:<10}{result['p50_ms']:>10.2f}{result['p99_ms']:>10.2f}{result['rps']:>10.0f}")
    print(
        f"overhead: p50 +{through['p50_ms'] - direct['p50_ms']:.2f} ms, "
        f"latency ratio {through['p50_ms'] / direct['p50_ms']:.2f}x, "
        f"throughput ratio {through['rps'] / direct['rps']:.2f}x"
    )


if __name__ == "__main__":
    main()
