"""The ``GET /rotator/`` dashboard: static HTML, JS and CSS shipped inside the package.

The page needs no key; the JSON it reads does, and the page asks for it (kept in ``sessionStorage``). Every URL
the page uses is relative to the page, so it works wherever the gateway is mounted. Nothing is fetched from
another host: no CDN, no web fonts.

Serving is two routes (relative to the mount), before auth: ``GET /rotator/`` answers :func:`asset`
``("index.html")`` and ``GET /rotator/assets/{name}`` answers :func:`asset` ``(name)``, 404 when it returns None;
``GET /rotator`` (no slash) redirects to ``rotator/`` (a relative ``Location`` keeps the mount prefix; the page
also repairs its own URL if it is served there). :func:`response` does all three with the right headers.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

#: The shipped assets and their content types; no other name is ever read.
ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}


@cache
def asset(name: str) -> tuple[bytes, str] | None:
    """An asset's bytes and content type, or None for a name that is not a shipped asset.

    Args:
        name: a file name from :data:`ASSETS`, such as ``"dashboard.js"`` (no directories).
    """
    content_type = ASSETS.get(name)
    if content_type is None:
        return None
    return resources.files(__name__).joinpath(name).read_bytes(), content_type


@cache
def content_security_policy() -> str:
    """A strict CSP for the page: this origin only, plus the one inline script of ``index.html`` by its hash."""
    found = asset("index.html")
    page = found[0] if found is not None else b""
    hashes = "".join(
        " 'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in re.findall(rb"<script>(.*?)</script>", page, flags=re.S)
    )
    return (
        f"default-src 'none'; script-src 'self'{hashes}; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def response(path: str) -> tuple[int, bytes, list[tuple[str, str]]] | None:
    """The answer to ``GET path`` (mount-relative) if it is a dashboard path, else None.

    ``/rotator`` redirects to ``rotator/`` (relative, so the mount prefix is kept), ``/rotator/`` is the page,
    ``/rotator/assets/{name}`` an asset or a 404. Returns the status, body and headers.
    """
    if path == "/rotator":
        return 308, b"", [("location", "rotator/"), ("content-type", "text/plain; charset=utf-8")]
    if path == "/rotator/":
        name = "index.html"
    elif path.startswith("/rotator/assets/"):
        name = path[len("/rotator/assets/") :]
    else:
        return None
    found = asset(name)
    if found is None:
        return 404, b"Not found.", [("content-type", "text/plain; charset=utf-8"), *HEADERS]
    body, content_type = found
    headers = [("content-type", content_type), *HEADERS]
    if name == "index.html":
        headers.append(("content-security-policy", content_security_policy()))
    return 200, body, headers


#: Response headers for every dashboard asset (the JSON endpoints keep their own).
HEADERS: list[tuple[str, str]] = [
    ("cache-control", "no-cache"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
]
