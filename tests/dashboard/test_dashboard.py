"""The ``/rotator/`` dashboard: self-contained assets, and a real render in headless Chromium.

The render tests need Debian's ``chromium`` at /usr/bin/chromium and are skipped without it. They serve the page
under a mount prefix, from the dev harness's fake JSON and from a running gateway, take a screenshot (non-empty,
not blank) and dump the DOM after the page's JS has run (the credential names must be in it).
"""

from __future__ import annotations

import importlib.util
import re
import struct
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from asgi_rotator.dashboard import ASSETS, asset, content_security_policy, response

from ..conftest import PROXY_KEY, openai_provider

CHROMIUM = Path("/usr/bin/chromium")
HARNESS = Path(__file__).resolve().parents[2] / "scripts" / "dashboard_harness.py"
#: The only absolute URL allowed in the assets: the SVG namespace name, which is never fetched.
SVG_NAMESPACE = "http://www.w3.org/2000/svg"

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")


# ---------------------------------------------------------------- the assets


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_assets_reference_no_other_host(name: str) -> None:
    found = asset(name)
    assert found is not None and found[0], name
    text = found[0].decode()
    urls = [u for u in re.findall(r"""(?i)(?:https?:)?//[a-z0-9.-]+[^\s"'<>)]*""", text) if u != SVG_NAMESPACE]
    # Comments like "// foo" in JS match the pattern only when followed by a host-like word; keep real URLs.
    urls = [u for u in urls if re.match(r"(?i)(https?:)?//[a-z0-9-]+\.[a-z]", u)]
    assert urls == [], f"{name} references other hosts: {urls}"
    assert "@import" not in text
    assert not re.search(r"url\(\s*['\"]?(?!data:)", text), f"{name} loads something through url()"


def test_index_references_only_relative_assets() -> None:
    found = asset("index.html")
    assert found is not None
    html = found[0].decode()
    refs = re.findall(r"""\b(?:src|href|action)\s*=\s*["']([^"']*)["']""", html)
    assert refs, "the page references its assets"
    for ref in refs:
        assert not re.match(r"(?i)^[a-z][a-z0-9+.-]*:|^/", ref), f"not a relative path: {ref!r}"
        assert ".." not in ref
        if not ref.startswith("#"):
            assert ref.startswith("assets/") and ref.removeprefix("assets/") in ASSETS, ref


def test_asset_reads_only_shipped_names() -> None:
    found = asset("dashboard.js")
    assert found is not None and found[1].startswith("text/javascript")
    for name in ("../app.py", "__init__.py", "dashboard/../__init__.py", "", "index.htm"):
        assert asset(name) is None


def test_response_routes_and_headers() -> None:
    redirect = response("/rotator")
    assert redirect is not None and redirect[0] == 308 and ("location", "rotator/") in redirect[2]
    page = response("/rotator/")
    assert page is not None and page[0] == 200 and page[1].startswith(b"<!doctype html>")
    headers = dict(page[2])
    assert headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"] == content_security_policy()
    assert "'sha256-" in headers["content-security-policy"]  # the one inline script, by hash
    css = response("/rotator/assets/dashboard.css")
    assert css is not None and dict(css[2])["content-type"].startswith("text/css")
    missing = response("/rotator/assets/nope.js")
    assert missing is not None and missing[0] == 404
    assert response("/rotator/credentials") is None and response("/v1/models") is None


# ---------------------------------------------------------------- rendering in Chromium


def _chromium(url: str, *args: str, size: str = "1440,900") -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            "--virtual-time-budget=6000",
            *args,
            url,
        ]
        return subprocess.run(command, capture_output=True, timeout=90, check=False)


def _png_pixels(png: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (still filtered) scanlines of a PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def _render(url: str, tmp_path: Path, size: str) -> tuple[bytes, str]:
    shot = tmp_path / f"dashboard-{size.replace(',', 'x')}.png"
    done = _chromium(url, f"--screenshot={shot}", size=size)
    assert shot.exists(), done.stderr.decode(errors="replace")[-2000:]
    dom = _chromium(url, "--dump-dom", size=size)
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    return shot.read_bytes(), dom.stdout.decode()


def _assert_not_blank(png: bytes, size: str) -> None:
    width, height, pixels = _png_pixels(png)
    assert f"{width},{height}" == size
    assert len(pixels) > width * height  # at least one byte a pixel
    assert len(set(pixels)) > 40, "the screenshot is blank"


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboard_harness", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def harness() -> Iterator[Callable[..., str]]:
    """Start the dev harness (fake JSON) on loopback; returns the page URL, mounted under /llm."""
    module = _harness()
    servers: list[Any] = []

    def start(**options: Any) -> str:
        server = module.make_server("127.0.0.1", 0, key="harness-key", prefix="/llm", **options)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/llm/rotator"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@needs_chromium
@pytest.mark.parametrize("size", ["1440,900", "390,844"])
def test_renders_fake_gateway_data(harness: Callable[..., str], tmp_path: Path, size: str) -> None:
    # Served without the trailing slash and without a redirect: the page must repair its relative URLs itself.
    url = harness() + "#key=harness-key"
    png, dom = _render(url, tmp_path, size)
    _assert_not_blank(png, size)
    for credential in ("sk-...4f2a", "sk-ant-...L2mr", "AIza...Wm7c", "sk-or-...a91b"):
        assert credential in dom
    assert "openai/gpt-4.1" in dom  # usage by model
    assert 'class="pill warn"' in dom and 'class="pill bad"' in dom  # cooling and benched states
    assert "countdown" in dom
    assert "This gateway does not list" not in dom  # the recent requests loaded
    assert 'href="#trace=' in dom


@needs_chromium
def test_asks_for_the_key_again_on_401(harness: Callable[..., str], tmp_path: Path) -> None:
    url = harness(series=False, requests_endpoint=False) + "/#key=wrong-key"
    dom = _chromium(url, "--dump-dom").stdout.decode()
    assert "The gateway rejected this key" in dom
    assert "sk-...4f2a" not in dom


@needs_chromium
def test_renders_a_running_gateway(gateway: Callable[..., str], tmp_path: Path) -> None:
    base = gateway({"providers": {"fakeai": openai_provider("fake-upstream-key-one", "fake-upstream-key-two")}})
    for _ in range(3):
        reply = httpx.post(
            f"{base}/v1/chat/completions",
            headers={"authorization": f"Bearer {PROXY_KEY}"},
            json={"model": "fakeai/fake-model", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert reply.status_code == 200, reply.text
    rows = httpx.get(f"{base}/rotator/credentials", headers={"authorization": f"Bearer {PROXY_KEY}"}).json()
    masks = [row["credential"] for row in rows["credentials"]]
    assert len(masks) == 2
    assert httpx.get(f"{base}/rotator/").status_code == 200  # the page needs no key
    served = httpx.get(f"{base}/rotator/requests", headers={"authorization": f"Bearer {PROXY_KEY}"}).json()
    assert len(served["requests"]) == 3

    for size in ("1440,900", "390,844"):
        png, dom = _render(f"{base}/rotator#key={PROXY_KEY}", tmp_path, size)
        _assert_not_blank(png, size)
        for mask in masks:
            assert mask in dom
        assert "fakeai/fake-model" in dom
        assert "This gateway does not list" not in dom and "No requests yet" not in dom  # recent requests shown
        assert f'href="#trace={served["requests"][0]["id"]}"' in dom  # each links to its trace
        assert "fake-upstream-key-one" not in dom and PROXY_KEY not in dom


def test_the_gateway_serves_the_page_and_assets_without_a_key_and_without_tracing(gateway, trace_dir) -> None:
    base = gateway({"providers": {"fakeai": openai_provider("fake-upstream-key-three")}})
    traces_before = set(trace_dir.glob("*.jsonl"))
    page = httpx.get(f"{base}/rotator/")
    assert page.status_code == 200 and page.text.startswith("<!doctype html>")
    assert page.headers["content-security-policy"] == content_security_policy()
    assert page.headers["x-content-type-options"] == "nosniff" and "x-request-id" not in page.headers
    redirect = httpx.get(f"{base}/rotator")
    assert redirect.status_code == 308 and redirect.headers["location"] == "rotator/"
    script = httpx.get(f"{base}/rotator/assets/dashboard.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{base}/rotator/assets/gateway.py").status_code == 404
    assert httpx.post(f"{base}/rotator/").status_code == 401  # only GET is public
    assert httpx.get(f"{base}/rotator/credentials").status_code == 401  # the JSON needs a key
    assert set(trace_dir.glob("*.jsonl")) == traces_before
