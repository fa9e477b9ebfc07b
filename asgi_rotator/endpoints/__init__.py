"""Request handlers behind the routes: generation (every protocol), stored responses, introspection."""

from __future__ import annotations
