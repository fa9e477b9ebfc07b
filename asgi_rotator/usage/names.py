"""Client-chosen names in counters, bounded: a client can send any model name a permissive upstream accepts,
and every distinct name would otherwise add its own counters for as long as the process (or the ledger) lives."""

from __future__ import annotations

#: What every name past the limit is counted as.
OVERFLOW = "other"


class BoundedNames:
    """Passes names through until ``limit`` distinct ones were seen; later new names become :data:`OVERFLOW`.

    Names seen before the limit keep their own counters for the life of the process.
    """

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, name: str) -> str:
        if name in self._seen:
            return name
        if len(self._seen) >= self._limit:
            return OVERFLOW
        self._seen.add(name)
        return name
