"""Top-functions tables from a py-spy ``--format raw`` (collapsed stacks) file.

    python bench/profile_table.py STACKS.txt [--top 25]

Prints three Markdown tables: CPU by package (self time), the top functions by self time with their total
(inclusive) share, and the gateway's own functions (``asgi_rotator``) by total and self time. The same file
opens as a flame graph in speedscope (https://www.speedscope.app accepts collapsed stacks) or with
``flamegraph.pl``.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_PACKAGES = (
    ("asgi_rotator/", "asgi_rotator (the gateway)"),
    ("httpcore", "httpcore"),
    ("httpx", "httpx"),
    ("h11", "h11"),
    ("anyio", "anyio"),
    ("sniffio", "sniffio"),
    ("uvicorn", "uvicorn"),
    ("starlette", "starlette"),
    ("redis", "redis-py"),
    ("pydantic", "pydantic"),
    ("cachetools", "cachetools"),
    ("asyncio", "asyncio (stdlib)"),
)


def frame_name(frame: str) -> tuple[str, str]:
    """``(function as module.func, file)`` for one collapsed frame, line numbers dropped."""
    match = _FRAME.match(frame)
    if not match:
        return frame, ""
    file = match["file"]
    module = file.removesuffix(".py")
    if "/asgi_rotator/" in module:
        module = "asgi_rotator/" + module.split("/asgi_rotator/", 1)[1]
    for marker in ("site-packages/", "/python3.11/", "/lib/python3"):
        if marker in module:
            module = module.split(marker, 1)[1]
            break
    return f"{module.replace('/', '.')}.{match['func']}", file


def package(file: str) -> str:
    for marker, name in _PACKAGES:
        if marker in file:
            return name
    if file.startswith("<") or ("/python3" in file and "site-packages" not in file):
        return "other stdlib"
    if file:
        return "other packages"
    return "native (event loop)"


def load(path: Path) -> tuple[Counter[str], Counter[str], Counter[str], int]:
    self_time: Counter[str] = Counter()
    total_time: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";")]
        frames = [f for f in frames if not f[0].startswith("process ") and not f[0].startswith("thread ")]
        if not frames:
            continue
        samples += count
        leaf, leaf_file = frames[-1]
        self_time[leaf] += count
        by_package[
            "event loop (uvloop C code under Runner.run)"
            if leaf == "asyncio.runners.Runner.run"
            else package(leaf_file)
        ] += count
        for name in {name for name, _ in frames}:
            total_time[name] += count
    return self_time, total_time, by_package, samples


def render(path: Path, top: int = 25) -> str:
    self_time, total_time, by_package, samples = load(path)
    if not samples:
        return f"(no samples in {path})"
    pct = lambda n: f"{n / samples * 100:.1f} %"  # noqa: E731
    out = [f"{samples} samples from {path.name}", "", "| package (self time) | share |", "|---|---|"]
    out += [f"| {name} | {pct(n)} |" for name, n in by_package.most_common()]
    out += ["", "| function | self | total |", "|---|---|---|"]
    out += [f"| `{name}` | {pct(n)} | {pct(total_time[name])} |" for name, n in self_time.most_common(top)]
    own = [(name, n) for name, n in total_time.most_common() if name.startswith("asgi_rotator.")]
    out += ["", "| gateway function (asgi_rotator) | total | self |", "|---|---|---|"]
    out += [f"| `{name}` | {pct(n)} | {pct(self_time[name])} |" for name, n in own[:top]]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(render(args.stacks, args.top))


if __name__ == "__main__":
    main()
