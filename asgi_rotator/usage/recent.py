"""Recent request summaries for ``GET /rotator/requests``, kept in the state backend so every replica lists them.

Each scope (``-`` for global) has one bounded list under ``reqs:<scope>``: appending keeps the newest
``recent_requests.size`` summaries, and the list expires ``recent_requests.ttl`` seconds after its last append.
Summaries are written in the background about once a second, never on a request's path (which keeps its two
round trips, admit and finish): every summary of that second in one batch, so one round trip however many
requests ended. :meth:`RecentRequests.aclose` writes what is pending at shutdown.
An admin reads every configured scope's list merged; a global key the global list; a scoped key its scope's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from .. import _json
from ..config.observability import RecentRequestsConfig
from ..state.base import StateBackend, WriteOp
from ..state.keys import Keyspace
from ..tracing.observation import RequestSummary
from .soon import WriteSoon

logger = logging.getLogger("asgi_rotator")

#: Seconds a summary may wait before it is written with the others.
_WRITE_EVERY = 1.0
#: Summaries waiting at most; past this (a stalled backend) new ones are dropped rather than queued.
MAX_PENDING = 10_000


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
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._writer = WriteSoon(self.flush, lambda: bool(self._pending), _WRITE_EVERY)
        self._dropped = 0

    def add(self, summary: RequestSummary) -> None:
        """Keep ``summary`` in its scope's list (written with the others of the next second)."""
        if not self._size:
            return
        if len(self._pending) >= MAX_PENDING:
            self._dropped += 1
            if self._dropped == 1:
                logger.warning("asgi_rotator: the state backend is not keeping up; request summaries are dropped")
            return
        # Serialized when written: off the request's path, and a stalled backend's queue holds no serializer buffers.
        self._pending.append((self._keys.recent_requests(summary.scope), summary.as_json()))
        self._writer.due()

    async def flush(self) -> None:
        """Write the pending summaries now, all in one batch."""
        pending, self._pending = self._pending, []
        if pending:
            with contextlib.suppress(Exception):  # a lost summary must never fail anything else
                ops: list[WriteOp] = [("append", key, _json.dumps(row), self._ttl, self._size) for key, row in pending]
                await self._backend.write_many(ops)

    async def aclose(self) -> None:
        """Write what is pending (at shutdown) and stop the writer."""
        await self.flush()
        self._writer.cancel()

    async def newest(self, scopes: list[str | None], limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` summaries of ``scopes``, newest first (this replica's pending ones written first)."""
        await self.flush()
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
