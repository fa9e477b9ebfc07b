"""The usage ledger: token and cost counters in the state backend, so every replica reports the same totals.

A served call adds to three kinds of hashes of integer counters, all under the caller's scope (``-`` for
global); the replica sums the increments and writes them about once a second (:mod:`.pending`), and flushes
its own before it reads a report:

    usage:<scope>:all                 all time; fields ``<dimension>:<name>:<counter>`` for the served
                                      ``provider/model`` (``m``), masked credential (``c``) and client key (``k``)
    usage:<scope>:<window>@<start>    one time bucket per minute, hour and UTC day; fields ``m:<name>:<counter>``

Totals and ``by_provider`` are sums of ``by_model`` taken when a report is read, and names are hash fields,
so there is no index to keep in step: whatever the hashes hold is the report, after a flush or a restart
too. A call adds to one field per non-zero counter per hash (about twenty), summed with the other calls of
its second before they are written.
Counters are added atomically, so concurrent replicas never lose an update: cost in nano-dollars, and a
separate counter of calls with unknown cost makes a report's ``cost_usd`` null rather than silently low.
Streams add their counts, byte sizes, outcomes and summed timings to the all-time hash, which a report turns
into averages. Time buckets live as long as their series is charted (:data:`SERIES`); the all-time hash has
one field set per served model, credential and client key. Model names are the client's to choose when a
provider lists none, so a process counts at most ``max_models`` of them on their own and the rest as
``<provider>/other``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..credentials.budget import NANO
from ..protocols.unified import Usage
from ..state.base import StateBackend
from ..state.keys import Keyspace, part, scope_tag
from ..stream_stats import StreamStats
from .names import BoundedNames
from .pending import PendingCounters, Targets

#: Report windows and their lengths in seconds (``total`` is all time).
WINDOWS: dict[str, float] = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}
#: How many buckets of each window a series shows (and its buckets live for).
SERIES: dict[str, int] = {"minute": 120, "hour": 168, "day": 90}

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
_DIMENSIONS = {"m": "by_model", "c": "by_credential", "k": "by_client_key"}
_REPORTED = ("by_provider", "by_model", "by_credential", "by_client_key")
Counts = dict[str, dict[str, dict[str, int]]]


class UsageLedger:
    """Usage counters per scope, dimension and window.

    Args:
        backend: the shared state backend.
        keys: the keyspace its counters live under.
        scopes: the configured tenant scopes (an admin's report sums them with the global one).
        clock: Unix time; tests pass a fake one.
        max_models: distinct ``provider/model`` names this process counts on their own; later new names are
            counted as ``<provider>/other`` (model names are the client's to choose when a provider lists none).
    """

    def __init__(
        self,
        backend: StateBackend,
        keys: Keyspace,
        *,
        scopes: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        max_models: int = 1000,
    ) -> None:
        self._backend = backend
        self._models = BoundedNames(max_models)
        self._keys = keys
        self._scopes = ["-", *(scope_tag(scope) for scope in scopes)]
        self._clock = clock
        #: This replica's increments not yet written (:meth:`record` adds to them).
        self.pending = PendingCounters(backend)
        #: Per call shape (scope, provider, model, credential, client key): the minute and its targets.
        self._shapes: dict[tuple[str | None, ...], tuple[int, Targets, Targets]] = {}

    @property
    def clock(self) -> Callable[[], float]:
        """The ledger's clock."""
        return self._clock

    def record(
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
        """Add one served call to every counter it belongs to (written with the others of its second).

        Args:
            provider: the provider that served the call.
            model: the upstream model that served it (reported as ``provider/model``).
            credential: the masked credential, if any.
            client_key: the client key's fingerprint, if any.
            scope: the caller's tenant scope; None is global.
            usage: canonical usage of the call.
            cost_usd: its cost, or None when unknown (from :func:`~asgi_rotator.usage.pricing.compute_cost`).
            cost_source: where the cost came from; ``unknown`` counts the call as of unknown cost.
            stream: the measurements of a streamed call.
        """
        unknown = cost_usd is None or cost_source == "unknown"
        core = {"requests": 1}
        for field in TOKEN_FIELDS:
            amount = int(getattr(usage, field))
            if amount > 0:
                core[field] = amount
        if unknown:
            core[_UNKNOWN] = 1
        elif cost_usd:
            cost = round(cost_usd * NANO)
            if cost:
                core[_COST] = cost
        total, buckets = self._targets(scope, provider, model, credential, client_key)
        counts = core
        if stream is not None:
            counts = {**core, **{field: amount for field, amount in _stream_amounts(stream) if amount}}
        self.pending.spread(total, counts)
        self.pending.spread(buckets, core)

    def _targets(
        self, scope: str | None, provider: str, model: str, credential: str | None, client_key: str | None
    ) -> tuple[Targets, Targets]:
        """Where a call's counts go: the all-time hash under each of its names, and this minute's, hour's and
        day's buckets under its model. Built once per call shape and minute (bounded: clients name models)."""
        minute = int(self._clock() // 60)
        shape = (scope, provider, model, credential, client_key)
        found = self._shapes.get(shape)
        if found is not None and found[0] == minute:
            return found[1], found[2]
        if len(self._shapes) >= 10_000:
            self._shapes.clear()
        scoped = scope_tag(scope)
        served = f"m:{part(f'{provider}/{self._models(model)}')}:"
        names = [served]
        if credential is not None:
            names.append(f"c:{part(credential)}:")
        if client_key is not None:
            names.append(f"k:{part(client_key)}:")
        all_time = self._keys.usage_total(scoped)
        total = tuple((all_time, name, None) for name in names)
        buckets = []
        for window, size in WINDOWS.items():
            start = minute * 60 // int(size) * int(size)
            buckets.append((self._keys.usage_bucket(scoped, window, start), served, size * (SERIES[window] + 1)))
        self._shapes[shape] = (minute, total, tuple(buckets))
        return total, tuple(buckets)

    async def _flush_pending(self) -> None:
        """This replica's own increments first, so a report always counts them (a failed write is logged
        and kept; the read that follows says whether the backend answers)."""
        with contextlib.suppress(Exception):
            await self.pending.flush()

    async def report(self, *, scope: str | None = None, window: str = "total") -> dict[str, Any]:
        """Usage in the DESIGN.md ``/rotator/usage`` shape, plus ``by_credential`` and ``by_client_key``.

        Args:
            scope: a tenant scope; None reports global calls only; ``"*"`` sums the global and every scope.
            window: ``total`` (all time), or the current ``minute``, ``hour`` or UTC ``day`` (which count by
                model and provider only).

        Raises:
            ValueError: an unknown window.
        """
        scopes = self._scopes if scope == "*" else [scope_tag(scope)]
        await self._flush_pending()
        if window == "total":
            hashes = await self._backend.get_counters([self._keys.usage_total(s) for s in scopes])
        elif window in WINDOWS:
            size = int(WINDOWS[window])
            start = int(self._clock() // size) * size
            hashes = await self._backend.get_counters([self._keys.usage_bucket(s, window, start) for s in scopes])
        else:
            raise ValueError(f"unknown usage window {window!r}; expected total, {', '.join(WINDOWS)}")
        return _format(_parse(hashes))

    async def series(self, window: str, *, scope: str | None = None) -> dict[str, Any]:
        """Usage by provider and model over time: the last :data:`SERIES` buckets of ``window``, oldest first.

        Returns:
            ``{"series": [{"t": bucket start, "by_provider": {...}, "by_model": {...}}], "bucket_seconds": N}``
            with ``requests``, ``input_tokens``, ``output_tokens`` and ``cost_usd`` per entry.

        Raises:
            ValueError: an unknown window.
        """
        if window not in WINDOWS:
            raise ValueError(f"unknown usage series {window!r}; expected {', '.join(WINDOWS)}")
        size = int(WINDOWS[window])
        latest = int(self._clock() // size) * size
        starts = [latest - size * i for i in reversed(range(SERIES[window]))]
        scopes = self._scopes if scope == "*" else [scope_tag(scope)]
        keys = [self._keys.usage_bucket(s, window, start) for start in starts for s in scopes]
        await self._flush_pending()
        hashes = await self._backend.get_counters(keys)
        points = []
        for i, start in enumerate(starts):
            counts = _parse(hashes[i * len(scopes) : (i + 1) * len(scopes)])
            point: dict[str, Any] = {"t": start}
            for dimension in ("by_provider", "by_model"):
                point[dimension] = {name: _series_entry(c) for name, c in sorted(counts[dimension].items())}
            points.append(point)
        return {"series": points, "bucket_seconds": size}


def _parse(hashes: list[dict[str, int]]) -> Counts:
    """Counter hashes (one per scope) as counts by dimension and name; ``totals`` and ``by_provider`` are
    summed from ``by_model``."""
    counts: Counts = {"totals": {"-": dict.fromkeys(_FIELDS, 0)}, **{d: {} for d in _REPORTED}}
    for stored in hashes:
        for key, amount in stored.items():
            dimension, name, field = key.split(":")
            name = name.replace("%3A", ":").replace("%25", "%")
            into = counts[_DIMENSIONS[dimension]].setdefault(name, dict.fromkeys(_FIELDS, 0))
            into[field] = into.get(field, 0) + amount
    for name, entry in counts["by_model"].items():
        provider = counts["by_provider"].setdefault(name.partition("/")[0], dict.fromkeys(_FIELDS, 0))
        for field, amount in entry.items():
            provider[field] += amount
            counts["totals"]["-"][field] += amount
    return counts


def _series_entry(counts: dict[str, int]) -> dict[str, Any]:
    return {
        "requests": counts["requests"],
        "input_tokens": counts["input_tokens"],
        "output_tokens": counts["output_tokens"],
        "cost_usd": None if counts[_UNKNOWN] else round(counts[_COST] / NANO, 9),
    }


def _stream_amounts(stream: StreamStats) -> list[tuple[str, int]]:
    summary = stream.summary()
    amounts = [("streams", 1), ("stream_chunks", stream.chunks), ("stream_bytes", stream.bytes)]
    amounts += [(f"stream_{name}", round(summary[name] or 0)) for name in _STREAM_TIMINGS]
    if stream.outcome in _STREAM_OUTCOMES:
        amounts.append((f"streams_{stream.outcome}", 1))
    return amounts


def _entry(counts: dict[str, int]) -> dict[str, Any]:
    entry: dict[str, Any] = {"requests": counts["requests"], **{field: counts[field] for field in TOKEN_FIELDS}}
    entry["cost_usd"] = None if counts[_UNKNOWN] else round(counts[_COST] / NANO, 9)
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


def _format(counts: Counts) -> dict[str, Any]:
    report: dict[str, Any] = {"totals": _entry(counts["totals"]["-"])}
    for dimension in _REPORTED:
        report[dimension] = {name: _entry(entry) for name, entry in sorted(counts[dimension].items())}
    return report
