"""One background write about a second after something became due, for what is kept off requests' paths."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class WriteSoon:
    """Runs ``write`` ``every`` seconds after :meth:`due` is first called, and again while ``waiting()``
    says something is left (a failed write is retried a period later; ``write`` reports its own failures).

    Args:
        write: writes what is waiting.
        waiting: whether anything is waiting.
        every: seconds between writes.
    """

    def __init__(self, write: Callable[[], Awaitable[None]], waiting: Callable[[], bool], every: float) -> None:
        self._write = write
        self._waiting = waiting
        self._every = every
        self._task: asyncio.Task[None] | None = None

    def due(self) -> None:
        """Something waits: write it within ``every`` seconds (one writer at a time)."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    def cancel(self) -> None:
        """Stop the writer (at shutdown, once the owner wrote what was waiting)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run(self) -> None:
        while self._waiting():
            await asyncio.sleep(self._every)
            with contextlib.suppress(Exception):
                await self._write()
