"""Recent request summaries for ``GET /rotator/requests``, kept in the state backend so every replica lists them.

Each scope (``-`` for global) has one bounded list under ``reqs:<scope>``: appending keeps the newest
``recent_requests.size`` summaries, and the list expires ``recent_requests.ttl`` seconds after its last append.
An admin reads every configured scope's list merged; a global key the global list; a scoped key its scope's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import _json
from ..config.observability import RecentRequestsConfig
from ..state.base import StateBackend
from ..state.keys import Keyspace
from ..tracing.observation import RequestSummary


class RecentRequests:
    """The recent-request lists, one per scope.

    Args:
        backend: where the lists live.
        keys: the keyspace.
        config: the ``recent_requests`` section.
        scopes: the configured tenant scopes (an admin's listing reads each of them and the global list).
    """

    def __init__(
        self, backend: StateBackend, keys: Keyspace, config: RecentRequestsConfig, scopes: Iterable[str]
    ) -> None:
        self._backend = backend
        self._keys = keys
        self._size = config.size
        self._ttl = config.ttl
        self._scopes: list[str | None] = [None, *scopes]

    async def add(self, summary: RequestSummary) -> None:
        """Keep ``summary`` in its scope's list (one backend write)."""
        if self._size:
            key = self._keys.recent_requests(summary.scope)
            await self._backend.append(key, _json.dumps(summary.as_json()), self._size, ttl=self._ttl)

    async def newest(self, scopes: list[str | None], limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` summaries of ``scopes``, newest first."""
        rows: list[dict[str, Any]] = []
        for scope in scopes:
            for raw in await self._backend.list(self._keys.recent_requests(scope)):
                try:
                    row = _json.loads(raw)
                except _json.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
        rows.sort(key=lambda row: row.get("time") or 0.0, reverse=True)
        return rows[:limit]

    def every_scope(self) -> list[str | None]:
        """The global scope (None) and every configured tenant scope."""
        return list(self._scopes)
