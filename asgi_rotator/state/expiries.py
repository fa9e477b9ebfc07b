"""The memory backend's expiry schedule: a heap of ``(time, key, table)`` rows, pruned as it goes.

Every entry with a TTL has a row at or before its expiry, so each write drops what has expired with a few heap
pops instead of a scan of the store. A row that comes due for an entry rewritten with a later expiry is pushed
again, so a key rewritten on every request (a last-used time, say) keeps one row instead of one per write.

An entry that leaves before its time (evicted past the key bound, deleted) leaves its row behind, and once the
store is full every new key evicts an old one: left alone, those rows would pile up to the heap's bound. For
each entry that leaves so, a cursor walks a few rows of the heap and takes out those whose entry is gone, so the
heap follows the store's size, with no pause to rebuild it (and no walk while nothing leaves early).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

Row = tuple[float, str, int]

#: Rows looked at per entry that left early: a sweep over the heap then takes one such entry for every eight
#: rows, so the rows of gone entries stay under about a quarter of the heap.
_ROWS_PER_GONE = 8


class Expiries:
    """When each entry of ``tables`` (indexed by a row's third field) expires."""

    def __init__(self, tables: Sequence[dict[str, Any]]) -> None:
        self._tables = tables
        self._heap: list[Row] = []
        self._cursor = 0
        self._owed = 0

    def __len__(self) -> int:
        return len(self._heap)

    def track(self, expires: float, key: str, table: int) -> None:
        """Schedule the entry's expiry (its older row, if any, stands until it comes due)."""
        heapq.heappush(self._heap, (expires, key, table))

    def gone(self) -> None:
        """Note that an entry with a TTL left before its time (its row stays behind until pruned)."""
        self._owed += _ROWS_PER_GONE

    def expire(self, now: float) -> None:
        """Drop every entry whose time has come, and prune what is owed of the rows of entries that left early."""
        heap, tables = self._heap, self._tables
        while heap and heap[0][0] <= now:
            _, key, index = heapq.heappop(heap)
            entry = tables[index].get(key)
            if entry is None or entry[1] is None:
                continue
            if entry[1] <= now:
                del tables[index][key]
            else:
                heapq.heappush(heap, (entry[1], key, index))
        if self._owed:
            self._prune()

    def _prune(self) -> None:
        heap, tables = self._heap, self._tables
        while self._owed > 0:
            self._owed -= 1
            if not heap:
                self._owed = 0
                return
            at = self._cursor % len(heap)
            row = heap[at]
            if row[1] in tables[row[2]]:
                self._cursor = at + 1
                continue
            last = heap.pop()
            if at < len(heap):  # the last row fills the hole; the cursor looks at it next
                heap[at] = last
                _settle(heap, at)


def _settle(heap: list[Row], at: int) -> None:
    """Restore the heap order around ``heap[at]``, the only row out of place: up toward the root if it is
    smaller than its parent, else down toward the leaves."""
    row, start = heap[at], at
    while at > 0 and row < heap[(at - 1) >> 1]:
        heap[at] = heap[(at - 1) >> 1]
        at = (at - 1) >> 1
    if at == start:
        size = len(heap)
        while (child := 2 * at + 1) < size:
            if child + 1 < size and heap[child + 1] < heap[child]:
                child += 1
            if not heap[child] < row:
                break
            heap[at], at = heap[child], child
    heap[at] = row
