"""A deadline on each wait for the upstream, with one loop timer for a whole stream.

``asyncio.timeout`` around every chunk schedules and cancels a timer handle per chunk, a few microseconds each
on the stream's hot path. A stream's limits are tens of seconds while its chunks come milliseconds apart, so a
single timer suffices: it fires at the earliest moment the current wait could have run out, and if a chunk came
in the meantime it is set again for the wait in progress then. It cancels the waiting task the way
``asyncio.timeout`` does, so a cancellation from outside still propagates as one.
"""

from __future__ import annotations

import asyncio


class WaitDeadline:
    """Bounds each wait between :meth:`start` and :meth:`stop` to the limit :meth:`start` names.

    Use it as ``deadline.start(limit)``; ``await`` the upstream; ``deadline.stop()``. When the wait outlasts
    its limit, the task waiting is cancelled; :meth:`expired_by` turns that ``CancelledError`` into a verdict.
    The deadline belongs to the task that first waits (a stream is read by one task).
    """

    __slots__ = ("_loop", "_task", "_cancelling", "_since", "_limit", "_timer", "_armed_for", "_expired")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self._since: float | None = None
        self._limit = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = 0.0
        self._expired = False

    def start(self, limit: float | None) -> None:
        """A wait begins; it may last ``limit`` seconds (None: without end)."""
        if limit is None:
            self._since = None
            return
        self._since = since = self._loop.time()
        self._limit = limit
        task = self._task
        if task is None:
            task = self._task = asyncio.current_task()
            assert task is not None, "a wait deadline needs a task to cancel"
        self._cancelling = task.cancelling()
        if self._timer is None or self._armed_for > since + limit:
            self._arm(since + limit)

    def stop(self) -> None:
        """The wait ended (the timer stays: the next wait is very likely to reuse it)."""
        self._since = None
        if self._expired and self._task is not None:
            # The deadline cancelled the wait, which ended some other way (a layer below turned the
            # cancellation into its own error): withdraw it, as asyncio.timeout does, or the task stays cancelling.
            self._expired = False
            self._task.uncancel()

    def expired_by(self, error: asyncio.CancelledError) -> bool:
        """Whether ``error`` is this deadline's doing (it is then withdrawn from the task), not an outer
        cancellation, which must propagate."""
        if not self._expired or self._task is None:
            return False
        self._expired = False
        return self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        """Drop the timer: the stream is done."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._armed_for = self._loop.call_at(when, self._check), when

    def _check(self) -> None:
        self._timer = None
        if self._since is None or self._task is None:
            return  # between waits: the next one sets the timer again
        due = self._since + self._limit
        if self._loop.time() < due:
            self._arm(due)
            return
        self._expired = True
        self._task.cancel()
