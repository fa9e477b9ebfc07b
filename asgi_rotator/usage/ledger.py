"""The usage ledger: token and cost counters in the state backend, so every replica reports the same totals.

Each served call adds to counters for the totals and per provider, ``provider/model``, masked credential and
client-key fingerprint, in the current minute, hour and UTC day windows and all time, all under the caller's
scope (``-`` for global). The counters of one dimension and window are one hash of integer fields, added to
atomically (``hincr``), so concurrent replicas never lose an update and a call costs a handful of writes:
cost is kept in nano-dollars (a few-token call costs fractions of a micro-dollar), and a separate counter
of calls with unknown cost makes a report's ``cost_usd`` null rather than silently low. Streams add their
counts, byte sizes, outcomes and summed timings, which a report turns into averages.

The backend cannot list keys, so the names seen per dimension are kept in a list that each name enters
once (a marker counter decides which replica appends it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ..protocols.unified import Usage
from ..state.base import StateBackend, WriteOp
from ..state.keys import Keyspace, scope_tag
from ..stream_stats import StreamStats

#: Report windows and their lengths in seconds (``total`` is all time).
WINDOWS: dict[str, float] = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}
Period = Literal["day", "month"]

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
_COST, _UNKNOWN = "cost_nusd", "cost_unknown"
#: Summed stream timings (milliseconds), reported as averages per stream.
_STREAM_TIMINGS = ("ttfb_ms", "first_token_ms", "duration_ms")
_STREAM_OUTCOMES = ("completed", "failed", "disconnected")
_STREAM_FIELDS = (
    "streams",
    "stream_chunks",
    "stream_bytes",
    *(f"stream_{name}" for name in _STREAM_TIMINGS),
    *(f"streams_{outcome}" for outcome in _STREAM_OUTCOMES),
)
_FIELDS = ("requests", *TOKEN_FIELDS, _COST, _UNKNOWN, *_STREAM_FIELDS)
_DIMENSIONS = ("by_provider", "by_model", "by_credential", "by_client_key")
_NANO = 1_000_000_000
_INDEX_MAX = 10_000
_SEEN_CACHE_MAX = 50_000


@dataclass(frozen=True, slots=True)
class PeriodUsage:
    """A client key's usage in its current budget period. Calls of unknown cost add nothing to ``cost_usd``."""

    requests: int
    tokens: int
    cost_usd: float


def period_bounds(period: Period, now: float) -> tuple[int, float]:
    """The start and end (Unix seconds) of the UTC day or calendar month holding ``now``."""
    if period == "day":
        start = int(now // 86400) * 86400
        return start, start + 86400.0
    moment = datetime.fromtimestamp(now, UTC)
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    )
    return int(first.timestamp()), following.timestamp()


class UsageLedger:
    """Usage counters per scope, dimension and window, and per client key and budget period.

    Args:
        backend: the shared state backend.
        keys: the keyspace its counters live under.
        clock: Unix time; tests pass a fake one.
    """

    def __init__(self, backend: StateBackend, keys: Keyspace, *, clock: Callable[[], float] = time.time) -> None:
        self._backend = backend
        self._keys = keys
        self._clock = clock
        # Names this process already knows are indexed; only saves round trips, so it may be cleared any time.
        self._indexed: set[tuple[str, str, str]] = set()

    @property
    def clock(self) -> Callable[[], float]:
        """The ledger's clock (quota periods end by it)."""
        return self._clock

    async def record(
        self,
        *,
        provider: str,
        model: str,
        credential: str | None,
        client_key: str | None,
        scope: str | None,
        usage: Usage,
        cost_usd: float | None,
        cost_source: str,
        stream: StreamStats | None = None,
    ) -> None:
        """Add one served call to every counter it belongs to.

        Args:
            provider: the provider that served the call.
            model: the upstream model that served it (reported as ``provider/model``).
            credential: the masked credential, if any.
            client_key: the client key's fingerprint, if any (also feeds its budget periods).
            scope: the caller's tenant scope; None is global.
            usage: canonical usage of the call.
            cost_usd: its cost, or None when unknown (from :func:`~asgi_rotator.usage.pricing.compute_cost`).
            cost_source: where the cost came from; ``unknown`` counts the call as of unknown cost.
            stream: the measurements of a streamed call.

        Raises:
            BackendError: the state backend failed.
        """
        now = self._clock()
        scoped = scope_tag(scope)
        names = [("by_provider", provider), ("by_model", f"{provider}/{model}")]
        if credential is not None:
            names.append(("by_credential", credential))
        if client_key is not None:
            names.append(("by_client_key", client_key))
        unknown = cost_usd is None or cost_source == "unknown"
        nano = 0 if cost_usd is None else round(cost_usd * _NANO)
        amounts = [("requests", 1), *((field, max(int(getattr(usage, field)), 0)) for field in TOKEN_FIELDS)]
        amounts.append((_UNKNOWN, 1) if unknown else (_COST, nano))
        if stream is not None:
            amounts += _stream_amounts(stream)
        counts = {field: amount for field, amount in amounts if amount}

        # One hash of counters per dimension and window: a handful of writes per call, not one per field.
        ops: list[WriteOp] = []
        for window, ttl in self._windows(now):
            for dimension, name in [("totals", "-"), *names]:
                ops.append(("hincr", self._keys.usage_counters(scoped, window, dimension, name), counts, ttl))
        if client_key is not None:
            quota = {"requests": 1, "tokens": max(usage.total_tokens, 0), _COST: 0 if unknown else nano}
            quota = {field: amount for field, amount in quota.items() if amount}
            for period in ("day", "month"):
                start, end = period_bounds(period, now)
                ops.append(("hincr", self._keys.quota(client_key, period, start), quota, end - now + 60.0))
        await self._index([("scopes", "", scoped), *((scoped, d, n) for d, n in names)])
        await self._backend.write_many(ops)

    def _windows(self, now: float) -> Iterable[tuple[str, float | None]]:
        yield "total", None
        for window, size in WINDOWS.items():
            # A window's counters are created inside it, so this TTL outlives the window by a tenth.
            yield f"{window}@{int(now // size) * int(size)}", size * 1.1 + 1.0

    async def _index(self, entries: list[tuple[str, str, str]]) -> None:
        for entry in entries:
            if entry in self._indexed:
                continue
            scope, dimension, name = entry
            index = self._keys.usage_scopes() if not dimension else self._keys.usage_index(scope, dimension)
            if await self._backend.incr(self._keys.index_marker(index, name)) == 1:
                await self._backend.append(index, name.encode(), max_len=_INDEX_MAX)
            if len(self._indexed) >= _SEEN_CACHE_MAX:
                self._indexed.clear()
            self._indexed.add(entry)

    async def report(self, *, scope: str | None = None, window: str = "total") -> dict[str, Any]:
        """Usage in the DESIGN.md ``/rotator/usage`` shape, plus ``by_credential`` and ``by_client_key``.

        Args:
            scope: a tenant scope; None reports global calls only; ``"*"`` sums the global and every scope.
            window: ``total`` (all time), or the current ``minute``, ``hour`` or UTC ``day``.

        Raises:
            ValueError: an unknown window.
        """
        if window == "total":
            tag = "total"
        elif window in WINDOWS:
            size = int(WINDOWS[window])
            tag = f"{window}@{int(self._clock() // size) * size}"
        else:
            raise ValueError(f"unknown usage window {window!r}; expected total, {', '.join(WINDOWS)}")
        if scope != "*":
            return _format(await self._raw(scope_tag(scope), tag))
        listed = await self._backend.list(self._keys.usage_scopes())
        scopes = dict.fromkeys(["-", *(item.decode() for item in listed)])
        merged: dict[str, dict[str, dict[str, int]]] = {}
        for scoped in scopes:
            for dimension, entries in (await self._raw(scoped, tag)).items():
                into = merged.setdefault(dimension, {})
                for name, counts in entries.items():
                    into[name] = {f: into.get(name, {}).get(f, 0) + counts[f] for f in _FIELDS}
        return _format(merged)

    async def _raw(self, scope: str, window: str) -> dict[str, dict[str, dict[str, int]]]:
        """Counter values by dimension and name; names without a call in the window are left out."""
        wanted: list[tuple[str, str]] = [("totals", "-")]
        for dimension in _DIMENSIONS:
            listed = await self._backend.list(self._keys.usage_index(scope, dimension))
            wanted.extend((dimension, name) for name in dict.fromkeys(item.decode() for item in listed))
        hashes = await self._backend.get_counters([self._keys.usage_counters(scope, window, d, n) for d, n in wanted])
        raw: dict[str, dict[str, dict[str, int]]] = {"totals": {}, **{d: {} for d in _DIMENSIONS}}
        for (dimension, name), stored in zip(wanted, hashes, strict=True):
            counts = {field: stored.get(field, 0) for field in _FIELDS}
            if counts["requests"] or dimension == "totals":
                raw[dimension][name] = counts
        return raw

    async def period_usage(self, client_key: str, period: Period) -> PeriodUsage:
        """What ``client_key`` used in the current UTC day or calendar month."""
        start, _ = period_bounds(period, self._clock())
        (stored,) = await self._backend.get_counters([self._keys.quota(client_key, period, start)])
        return PeriodUsage(stored.get("requests", 0), stored.get("tokens", 0), stored.get(_COST, 0) / _NANO)


def _stream_amounts(stream: StreamStats) -> list[tuple[str, int]]:
    summary = stream.summary()
    amounts = [("streams", 1), ("stream_chunks", stream.chunks), ("stream_bytes", stream.bytes)]
    amounts += [(f"stream_{name}", round(summary[name] or 0)) for name in _STREAM_TIMINGS]
    if stream.outcome in _STREAM_OUTCOMES:
        amounts.append((f"streams_{stream.outcome}", 1))
    return amounts


def _entry(counts: dict[str, int]) -> dict[str, Any]:
    entry: dict[str, Any] = {"requests": counts["requests"], **{field: counts[field] for field in TOKEN_FIELDS}}
    entry["cost_usd"] = None if counts[_UNKNOWN] else round(counts[_COST] / _NANO, 9)
    streams = counts["streams"]
    if streams:
        entry["streams"] = {
            "count": streams,
            **{outcome: counts[f"streams_{outcome}"] for outcome in _STREAM_OUTCOMES},
            "chunks": counts["stream_chunks"],
            "bytes": counts["stream_bytes"],
            **{f"avg_{name}": round(counts[f"stream_{name}"] / streams, 1) for name in _STREAM_TIMINGS},
        }
    return entry


def _format(raw: dict[str, dict[str, dict[str, int]]]) -> dict[str, Any]:
    totals = raw.get("totals", {}).get("-") or dict.fromkeys(_FIELDS, 0)
    report: dict[str, Any] = {"totals": _entry(totals)}
    for dimension in _DIMENSIONS:
        report[dimension] = {name: _entry(counts) for name, counts in sorted(raw.get(dimension, {}).items())}
    return report
