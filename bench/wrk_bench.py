"""The gateway's speed, side by side with the upstream it fronts, measured by wrk (issue 17).

    python bench/wrk_bench.py [--quick] [--soak N] [--profile DIR]

It starts, each as its own one-worker uvicorn process on loopback, with the same server stack:

- ``direct``: FakeUpstream (``bench/apps.py:upstream``), the target of the direct runs;
- ``backend``: a second FakeUpstream, the upstream both gateways forward to;
- ``gateway-memory``: a Starlette host with ``RotatorASGI`` mounted at ``/llm``, memory state;
- ``gateway-redis``: the same with ``state: {backend: redis, url: <--redis-url>}`` (db 14, flushed);
- ``floor``: the same host forwarding to ``backend`` with aiohttp and nothing else, the cost of the process
  model itself (server, host app, one upstream call): its ratio is the most any gateway of this shape can reach.

On a 2-core machine the server under test (``direct`` or a gateway) runs on CPU 0; wrk (one thread) and the
``backend`` upstream share CPU 1. wrk POSTs JSON bodies (``bench/lua/post.lua``) at c=1 and c=16, JSON and
``stream: true``; the table gives p50 at c=1, req/s at c=16 and the gateway's ratio to direct. A stream of
about 100 chunks against the usual short one prices one stream chunk. ``--soak N`` then sends N requests of
distinct conversations (``bench/lua/soak.lua``) through each gateway and reports RSS and the Redis key count
before and after. ``--profile DIR`` records the memory gateway at c=16 with py-spy and prints its top
functions (``bench/profile_table.py`` reads the same files).

Needs wrk (Debian: ``apt-get install wrk``) and, for the same server stack as the docs, ``uvloop`` and
``httptools`` (``pip install -r bench/requirements.txt``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asgi_rotator.cli import server_stack as installed_stack

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "lua"
SERVER_CPU = "0"  # the server under test
LOAD_CPU = "1"  # wrk and the gateways' upstream
CHUNK_MODEL = "many-chunks"
CHAT = "/llm/v1/chat/completions"  # bench/apps.py answers it with ~100 stream chunks


STACK = os.environ.get("BENCH_STACK", "auto")


def server_stack() -> list[str]:
    """uvloop and httptools when both are installed (the same for every server), else asyncio and h11.

    ``BENCH_STACK=asyncio`` (or ``--stack asyncio``) forces asyncio and h11 for every server."""
    loop, http = installed_stack()  # what `asgi-rotator serve` would run on
    if STACK == "asyncio" or (loop, http) != ("uvloop", "httptools"):
        return ["--loop", "asyncio", "--http", "h11"]
    return ["--loop", loop, "--http", http]


def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed: install it with `apt-get install wrk` (Debian/Ubuntu package `wrk`).")
    return wrk


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: str, command: list[str]) -> list[str]:
    """``command`` pinned to ``cpu`` with taskset when the machine has it and more than one CPU."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", cpu, *command]
    return command


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


def start_server(name: str, factory: str, cpu: str, workdir: Path, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    log = workdir / f"{name}.log"
    # taskset execs the interpreter, so the pid is the server's own (RSS, CPU time and py-spy use it).
    command = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH), "--factory", factory,
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
        *server_stack(),
    ]  # fmt: skip
    if factory.endswith(":upstream"):
        command += ["--lifespan", "off"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            pinned(cpu, command), env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(name, port, process, log)
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return server
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)


def post(url: str, key: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {key}", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_us: float  # CPU of the server under test per request
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Wrk:
    def __init__(self, binary: str, key: str, workdir: Path) -> None:
        self.binary, self.key, self.workdir = binary, key, workdir

    def run(
        self,
        url: str,
        body: dict[str, Any] | None,
        connections: int,
        seconds: float,
        *,
        pid: int | None = None,
        script: Path = LUA / "post.lua",
        env: dict[str, str] | None = None,
    ) -> Result:
        body_file = self.workdir / "body.json"
        if body is not None:
            body_file.write_text(json.dumps(body))
        command = [
            self.binary, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script), url,
        ]  # fmt: skip
        cpu_before = cpu_seconds(pid) if pid else 0.0
        completed = subprocess.run(
            pinned(LOAD_CPU, command),
            env={**os.environ, "BENCH_BODY": str(body_file), "BENCH_KEY": self.key, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        cpu = (cpu_seconds(pid) - cpu_before) if pid else 0.0
        line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
        if completed.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
        raw = json.loads(line.removeprefix("BENCH_RESULT "))
        errors = sum(raw.get(k, 0) for k in ("connect", "read", "write", "status", "timeout", "non_200"))
        return Result(
            requests=raw["requests"],
            seconds=raw["duration_us"] / 1e6,
            p50_ms=raw["p50_us"] / 1000,
            p99_ms=raw["p99_us"] / 1000,
            errors=errors,
            server_cpu_us=cpu / raw["requests"] * 1e6 if raw["requests"] else 0.0,
            raw=raw,
        )


def median_result(results: list[Result]) -> Result:
    """Each figure's median over rounds (errors are summed)."""

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    rps = median([r.rps for r in results])
    return Result(
        requests=round(rps * 1000),
        seconds=1000.0,
        p50_ms=median([r.p50_ms for r in results]),
        p99_ms=median([r.p99_ms for r in results]),
        errors=sum(r.errors for r in results),
        server_cpu_us=median([r.server_cpu_us for r in results]),
    )


def gateway_config(upstream: str, key: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "providers": {
            "up": {
                "protocol": "openai_chat",
                "base_url": f"{upstream}/v1",
                "credentials": [f"sk-bench-{i}-{secrets.token_hex(8)}" for i in range(4)],
            }
        },
        "auth": {"api_keys": [key]},
        "state": state,
    }


def chat_body(model: str, stream: bool) -> dict[str, Any]:
    return {
        "model": model,
        "stream": stream,
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Say hello in five words."},
        ],
    }


def sockets_to(port: int) -> int:
    """Client sockets on this machine to ``port``, TIME-WAIT included (``ss``); -1 without ss."""
    if not shutil.which("ss"):
        return -1
    out = subprocess.run(["ss", "-tanH", f"dport = :{port}"], capture_output=True, text=True, check=False).stdout
    return len(out.splitlines())


def count_frames(payload: bytes) -> int:
    return sum(1 for line in payload.splitlines() if line.startswith(b"data:"))


@contextlib.contextmanager
def redis_db(url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()  # only the bench's own db (the URL's)
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def redis_traffic(url: str, run: Any) -> dict[str, Any]:
    """Redis commands on the bench db while ``run()`` drives requests, seen through MONITOR.

    Returns commands per request by name (client ones and those run inside Lua scripts), and round trips per
    request: client commands, with a MULTI...EXEC block counted once. (The Redis backend sends one command
    per round trip; a pipeline would look like several commands here, so for other clients this is an upper
    bound. tests/state/test_round_trips.py checks the count against INFO's socket reads.)
    """
    import redis

    db = redis.Redis.from_url(url).connection_pool.connection_kwargs.get("db", 0)
    seen: list[dict[str, Any]] = []
    ready, stop = threading.Event(), threading.Event()

    def listen() -> None:
        monitor_client = redis.Redis.from_url(url)
        with monitor_client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if stop.is_set() and command["command"] == "ECHO bench-monitor-stop":
                    break
                if command.get("db") == db:
                    seen.append(command)
        monitor_client.close()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(5)
    time.sleep(0.2)
    requests = run()
    stop.set()
    poke = redis.Redis.from_url(url)
    poke.echo("bench-monitor-stop")
    poke.close()
    listener.join(10)
    by_name: dict[str, int] = {}
    round_trips, in_multi = 0, set()
    for command in seen:
        name = command["command"].split(" ", 1)[0].upper()
        if name == "ECHO":
            continue
        script = command.get("client_type") == "lua"
        key = f"{name} (in script)" if script else name
        by_name[key] = by_name.get(key, 0) + 1
        if script:
            continue
        client = command.get("client_address"), command.get("client_port")
        if name == "MULTI":
            in_multi.add(client)
            round_trips += 1
        elif name in ("EXEC", "DISCARD"):
            in_multi.discard(client)
        elif client not in in_multi:
            round_trips += 1
    return {
        "requests": requests,
        "round_trips_per_request": round_trips / requests if requests else 0.0,
        "commands_per_request": {k: v / requests for k, v in sorted(by_name.items(), key=lambda kv: -kv[1])},
    }


def fmt_ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}×" if base else "-"


def print_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(lines)
    print(text)
    return text


def profile(wrk: Wrk, gateway: Server, body: dict[str, Any], seconds: float, out: Path, label: str) -> Path:
    """py-spy the gateway while wrk drives it at c=16; returns the collapsed-stacks file."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"gateway-{label}.txt"
    recorder = subprocess.Popen(
        pinned(LOAD_CPU, [py_spy, "record", "--format", "raw", "--rate", "250", "--duration", f"{seconds + 1:g}",
                          "--pid", str(gateway.pid), "--output", str(raw), "--nonblocking", "--full-filenames"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(0.5)
    result = wrk.run(gateway.url + "/llm/v1/chat/completions", body, 16, seconds, pid=gateway.pid)
    _, err = recorder.communicate(timeout=seconds + 30)
    if not raw.exists():
        raise RuntimeError(f"py-spy failed: {err.decode()[-2000:]}")
    print(f"profile {label}: {result.rps:.0f} req/s under py-spy, {raw}")
    return raw


def soak(
    wrk: Wrk, gateway: Server, total: int, redis_client: Any | None, prefix: str, connections: int = 16
) -> dict[str, Any]:
    """``total`` requests of distinct conversations through ``gateway``; RSS sampled along the way."""
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        began = time.monotonic()
        while not stop.wait(1.0):
            samples.append((time.monotonic() - began, rss_kib(gateway.pid)))

    keys_before = redis_client.dbsize() if redis_client is not None else None
    rss_before = rss_kib(gateway.pid)
    cpu_before = cpu_seconds(gateway.pid)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    command = [wrk.binary, "-t1", f"-c{connections}", "-d3600s", "--timeout", "30s", "-s", str(LUA / "soak.lua"),
               gateway.url + "/llm/v1/chat/completions"]  # fmt: skip
    began = time.monotonic()
    try:
        completed = subprocess.run(
            pinned(LOAD_CPU, command),
            env={**os.environ, "BENCH_KEY": wrk.key, "BENCH_SOAK_REQUESTS": str(total), "BENCH_SOAK_PREFIX": prefix},
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        stop.set()
        sampler.join()
    elapsed = time.monotonic() - began
    cpu = cpu_seconds(gateway.pid) - cpu_before
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"soak failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    rss_after = rss_kib(gateway.pid)
    mid = samples[len(samples) // 2][1] if samples else rss_before
    tenth = samples[len(samples) // 10][1] if samples else rss_before
    return {
        "requests": raw["answered"],
        "non_200": raw["non_200"],
        "last_bad_status": raw["last_bad_status"],
        "first_bad": [
            ln.removeprefix("BENCH_BAD ") for ln in completed.stderr.splitlines() if ln.startswith("BENCH_BAD ")
        ],
        "rps": raw["answered"] / elapsed,
        "rss_before_mib": rss_before / 1024,
        "rss_mid_mib": mid / 1024,
        "rss_after_mib": rss_after / 1024,
        "growth_pct": (rss_after - rss_before) / rss_before * 100,
        "second_half_growth_pct": (rss_after - mid) / mid * 100,
        "rss_10pct_mib": tenth / 1024,
        "growth_after_10pct": (rss_after - tenth) / tenth * 100,
        "keys_before": keys_before,
        "keys_after": redis_client.dbsize() if redis_client is not None else None,
        "cpu_us": cpu / raw["answered"] * 1e6,
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("asgi-rotator", "uvicorn", "starlette", "httpx", "httpcore", "h11", "anyio", "orjson", "pydantic",
                 "redis", "uvloop", "httptools"):  # fmt: skip
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def machine() -> str:
    model = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        "unknown CPU",
    )
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of 2 s runs and a 2,000-request soak")
    parser.add_argument("--duration", type=float, help="seconds per measured run (default 5, quick 2)")
    parser.add_argument("--rounds", type=int, help="rounds over the whole plan, medians reported (default 3, quick 1)")
    parser.add_argument("--soak", type=int, help="soak requests per gateway (default 100000, quick 2000; 0: none)")
    parser.add_argument("--soak-only", action="store_true", help="skip the speed table, only soak")
    parser.add_argument("--soak-backends", default="memory,redis", help="gateways to soak (memory,redis)")
    parser.add_argument("--profile", type=Path, help="py-spy the memory gateway at c=16; stacks go to this dir")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--stack", choices=["auto", "asyncio"], default="auto", help="server stack for every server")
    parser.add_argument("--json", type=Path, help="also write every number to this JSON file")
    args = parser.parse_args()
    duration = args.duration or (2.0 if args.quick else 5.0)
    rounds = args.rounds or (1 if args.quick else 3)
    soak_requests = args.soak if args.soak is not None else (2000 if args.quick else 100_000)
    warmup = 1.0

    global STACK
    STACK = args.stack
    wrk_binary = find_wrk()
    stack = server_stack()
    print(f"machine: {machine()}; load average now {os.getloadavg()[0]:.2f} (other work on the box skews numbers)")
    print(f"server stack: uvicorn {' '.join(stack)} (same for every server), one worker each")
    print(f"wrk: {wrk_binary} -t1, pinned to CPU {LOAD_CPU}; servers under test pinned to CPU {SERVER_CPU}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    key = "sk-proxy-" + secrets.token_urlsafe(16)
    report: dict[str, Any] = {"machine": machine(), "stack": stack, "versions": versions(), "runs": {}}

    with tempfile.TemporaryDirectory(prefix="wrk-bench-") as tmp, redis_db(args.redis_url) as redis_client:
        work = Path(tmp)
        wrk = Wrk(wrk_binary, key, work)
        servers: list[Server] = []
        try:
            direct = start_server("direct", "apps:upstream", SERVER_CPU, work)
            servers.append(direct)
            backend = start_server("backend", "apps:upstream", LOAD_CPU, work)
            servers.append(backend)
            gateways: dict[str, Server] = {}
            for name, state in (
                ("memory", {"backend": "memory"}),
                ("redis", {"backend": "redis", "url": args.redis_url}),
            ):
                config = work / f"gateway-{name}.json"
                config.write_text(json.dumps(gateway_config(backend.url, key, state)))
                gateways[name] = start_server(
                    f"gateway-{name}", "apps:gateway", SERVER_CPU, work, {"BENCH_GATEWAY_CONFIG": str(config)}
                )
                servers.append(gateways[name])

            floor = start_server("floor", "apps:floor", SERVER_CPU, work, {"BENCH_FLOOR_UPSTREAM": backend.url})
            servers.append(floor)

            targets = {
                "direct": (direct, direct.url + "/v1/chat/completions", ""),
                "floor (host + aiohttp)": (floor, floor.url + CHAT, ""),
                "gateway, memory state": (gateways["memory"], gateways["memory"].url + CHAT, "up/"),
                "gateway, Redis state": (gateways["redis"], gateways["redis"].url + CHAT, "up/"),
            }

            if not args.soak_only:
                # Sanity: each path answers 200, and count stream chunks (few vs many) as the client sees them.
                chunks: dict[str, int] = {}
                for label, (_server, url, prefix) in targets.items():
                    for model in ("bench", CHUNK_MODEL):
                        for stream in (False, True):
                            status, payload = post(url, key, chat_body(prefix + model, stream))
                            if status != 200:
                                raise RuntimeError(f"{label} {model} stream={stream}: HTTP {status}: {payload[:500]!r}")
                            if stream:
                                chunks[f"{label}/{model}"] = count_frames(payload)
                few, many = chunks["direct/bench"], chunks[f"direct/{CHUNK_MODEL}"]
                through = chunks["gateway, memory state/bench"], chunks[f"gateway, memory state/{CHUNK_MODEL}"]
                print(f"stream frames from the upstream: short answer {few}, long answer {many}; through the gateway: "
                      f"{through[0]} and {through[1]}")  # fmt: skip

                plan = [
                    ("direct", "json"), ("direct", "stream"), ("direct", "chunks"),
                    ("floor (host + aiohttp)", "json"), ("floor (host + aiohttp)", "stream"),
                    ("gateway, memory state", "json"), ("gateway, memory state", "stream"),
                    ("gateway, memory state", "chunks"),
                    ("gateway, Redis state", "json"), ("gateway, Redis state", "stream"),
                ]  # fmt: skip
                # Rounds go over the whole plan in turn, so load from elsewhere on the machine lands on one round of a
                # path rather than on all of it; each cell reports the median over rounds.
                samples: dict[tuple[str, str, int], list[Result]] = {}
                for round_no in range(rounds):
                    for label, kind in plan:
                        server, url, prefix = targets[label]
                        model = prefix + (CHUNK_MODEL if kind == "chunks" else "bench")
                        body = chat_body(model, kind != "json")
                        wrk.run(url, body, 16, warmup)  # warm the connections and the gateway's pools
                        for c in (1,) if kind == "chunks" else (1, 16):
                            result = wrk.run(url, body, c, duration, pid=server.pid)
                            samples.setdefault((label, kind, c), []).append(result)
                            print(
                                f"  round {round_no + 1} {label:<22} {kind:<6} c={c:<2} p50 {result.p50_ms:7.2f} ms  "
                                f"p99 {result.p99_ms:7.2f} ms  {result.rps:8.0f} req/s  "
                                f"server CPU {result.server_cpu_us:6.0f} µs/req  errors {result.errors}  "
                                f"load {os.getloadavg()[0]:.2f}",
                                flush=True,
                            )
                # Does the gateway reuse its upstream connections? 50 sequential requests each way, counting the
                # sockets to the upstream (a connection closed by the gateway lingers in TIME-WAIT).
                reuse = {}
                for kind in ("json", "stream"):
                    before = sockets_to(backend.port)
                    for _ in range(50):
                        post(targets["gateway, memory state"][1], key, chat_body("up/bench", kind == "stream"))
                    reuse[kind] = max(0, sockets_to(backend.port) - before)  # old TIME-WAITs may expire meanwhile
                print(
                    f"new upstream sockets for 50 sequential requests through the gateway: JSON {reuse['json']}, "
                    f"streams {reuse['stream']} (≈0 when connections are reused)"
                )
                report["new_upstream_sockets_per_50"] = reuse
                runs = {key: median_result(values) for key, values in samples.items()}
                for (label, kind, c), result in runs.items():
                    report["runs"][f"{label}|{kind}|c={c}"] = {
                        "p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "rps": result.rps, "errors": result.errors,
                        "server_cpu_us": result.server_cpu_us,
                        "rounds": [(r.p50_ms, r.rps) for r in samples[(label, kind, c)]],
                    }  # fmt: skip
                print("\nmedians over rounds:")
                for (label, kind, c), result in runs.items():
                    print(
                        f"  {label:<22} {kind:<6} c={c:<2} p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                        f"{result.rps:8.0f} req/s  server CPU {result.server_cpu_us:6.0f} µs/req  "
                        f"errors {result.errors}"
                    )

                print()
                d = runs
                base_p50 = d[("direct", "json", 1)].p50_ms
                base_rps = d[("direct", "json", 16)].rps
                base_stream = d[("direct", "stream", 16)].rps
                rows = []
                for label in targets:
                    json1, json16, stream16 = d[(label, "json", 1)], d[(label, "json", 16)], d[(label, "stream", 16)]
                    if label == "direct":
                        rows.append([label, f"{json1.p50_ms:.2f} ms", f"{json16.rps:,.0f}", f"{stream16.rps:,.0f}"])
                    else:
                        rows.append([
                            label,
                            f"{json1.p50_ms:.2f} ms",
                            f"{json16.rps:,.0f} ({fmt_ratio(json16.rps, base_rps)})",
                            f"{stream16.rps:,.0f} ({fmt_ratio(stream16.rps, base_stream)})",
                        ])  # fmt: skip
                report["table"] = print_table(["path", "c=1 p50", "c=16 req/s", "c=16 streams req/s"], rows)

                mem1 = d[("gateway, memory state", "json", 1)].p50_ms
                red1 = d[("gateway, Redis state", "json", 1)].p50_ms
                added = mem1 - base_p50
                stream_added = d[("gateway, memory state", "stream", 1)].p50_ms - d[("direct", "stream", 1)].p50_ms
                chunk_added = d[("gateway, memory state", "chunks", 1)].p50_ms - d[("direct", "chunks", 1)].p50_ms
                per_chunk_us = (chunk_added - stream_added) / (many - few) * 1000 if many > few else float("nan")
                goals = {
                    "added p50 at c=1 (memory)": (f"{added:.2f} ms", "≤ 0.5 ms", added <= 0.5),
                    "c=16 throughput ratio": (
                        fmt_ratio(d[("gateway, memory state", "json", 16)].rps, base_rps), "≥ 0.35×",
                        d[("gateway, memory state", "json", 16)].rps >= 0.35 * base_rps,
                    ),
                    "c=16 streams ratio": (
                        fmt_ratio(d[("gateway, memory state", "stream", 16)].rps, base_stream), "≥ 0.35×",
                        d[("gateway, memory state", "stream", 16)].rps >= 0.35 * base_stream,
                    ),
                    "added per stream chunk (c=1 p50)": (f"{per_chunk_us:.0f} µs", "≤ 50 µs", per_chunk_us <= 50),
                    "Redis over memory, p50 at c=1": (f"{red1 - mem1:.2f} ms", "≤ 0.3 ms", red1 - mem1 <= 0.3),
                }  # fmt: skip
                print()
                report["goals"] = print_table(
                    ["measure", "now", "goal", "met"],
                    [[k, v[0], v[1], "yes" if v[2] else "no"] for k, v in goals.items()],
                )
                print(
                    f"\nadded p50 at c=1: {added:.2f} ms (memory), {red1 - base_p50:.2f} ms (Redis); "
                    f"streams: {stream_added:.2f} ms for {few} frames, {chunk_added:.2f} ms for {many} frames "
                    f"-> {per_chunk_us:.0f} µs per extra chunk"
                )
                # Redis traffic per request, in its own short run (MONITOR slows Redis down, so not in the table).
                for kind in ("json", "stream"):
                    body = chat_body("up/bench", kind == "stream")
                    redis_url = targets["gateway, Redis state"][1]
                    traffic = redis_traffic(args.redis_url, lambda b=body, u=redis_url: wrk.run(u, b, 1, 2).requests)
                    per = ", ".join(f"{k} {v:.2f}" for k, v in traffic["commands_per_request"].items())
                    print(
                        f"Redis per {kind} request (c=1, MONITOR on db {args.redis_url.rsplit('/', 1)[-1]}): "
                        f"~{traffic['round_trips_per_request']:.1f} round trips; commands: {per}"
                    )
                    report[f"redis_traffic_{kind}"] = traffic
                gw_cpu = {k: r.server_cpu_us for k, r in d.items() if r.server_cpu_us}
                report["chunks"] = {"few": few, "many": many, "per_chunk_us": per_chunk_us}
                report["cpu_us_per_request"] = {f"{k[0]}|{k[1]}|c={k[2]}": v for k, v in gw_cpu.items()}

                if args.profile:
                    print()
                    secs = 6.0 if args.quick else 10.0
                    for label, body in (
                        ("json", chat_body("up/bench", False)),
                        ("stream", chat_body("up/bench", True)),
                    ):
                        raw = profile(wrk, gateways["memory"], body, secs, args.profile, label)
                        from profile_table import render

                        print(render(raw, top=25))

            if soak_requests > 0:
                print()
                report["soak"] = {}
                for name in [n.strip() for n in args.soak_backends.split(",") if n.strip()]:
                    print(f"soak: {soak_requests:,} distinct conversations through the {name} gateway ...", flush=True)
                    result = soak(
                        wrk,
                        gateways[name],
                        soak_requests,
                        redis_client if name == "redis" else None,
                        prefix=f"{name}-{secrets.token_hex(3)}",
                    )
                    report["soak"][name] = result
                    keys = (
                        f", Redis keys {result['keys_before']:,} -> {result['keys_after']:,}"
                        if result["keys_before"] is not None
                        else ""
                    )
                    print(
                        f"  {name}: {result['requests']:,} answers ({result['non_200']} not 200, "
                        f"the last {result['last_bad_status']}) at "
                        f"{result['rps']:.0f} req/s; RSS {result['rss_before_mib']:.1f} -> "
                        f"{result['rss_10pct_mib']:.1f} (10 %) -> {result['rss_mid_mib']:.1f} (half way) -> "
                        f"{result['rss_after_mib']:.1f} MiB ({result['growth_pct']:+.1f} %; from 10 %: "
                        f"{result['growth_after_10pct']:+.1f} %; second half {result['second_half_growth_pct']:+.1f} %)"
                        f"{keys}"
                    )
                    for bad in result["first_bad"]:
                        print(f"    not 200: {bad}")
        finally:
            for server in servers:
                stop_server(server)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
