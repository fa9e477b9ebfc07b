"""Credential states for ``/rotator/credentials``: cooldowns, quota-group cooldowns, leases, the fair cycle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import _json
from ..config.models import RotatorConfig
from ..state.base import StateBackend
from ..state.keys import Keyspace
from .cooldowns import deadline_of
from .identity import Credential
from .limits import Windows


async def read_states(
    credentials: list[Credential],
    config: RotatorConfig,
    backend: StateBackend,
    keys: Keyspace,
    windows: Windows,
    now: float,
) -> list[dict[str, object]]:
    """Each credential's state, masked (no secret): what rests it and for how long, what it is doing."""
    values = await backend.get_many(
        [
            key
            for c in credentials
            for key in (
                keys.cooldown(c),
                keys.failure_count(c),
                keys.cycle_turn(c),
                windows.credential_minute_key(c, int(now // 60)),
            )
        ]
    )
    groups = {c.id: _quota_groups(config, c.provider) for c in credentials}
    group_keys = [keys.group_cooldown(c, g) for c in credentials for g in groups[c.id]]
    group_values = iter(await backend.get_many(group_keys))
    in_flight = await backend.count_leases([keys.lease(c) for c in credentials])
    turns = [values[4 * i + 2] for i in range(len(credentials))]
    cycles = await backend.get_counters([turn.decode() for turn in turns if turn])
    members = iter(cycles)
    rows: list[dict[str, object]] = []
    for i, (credential, busy) in enumerate(zip(credentials, in_flight, strict=True)):
        raw, failed, turn, minute = values[4 * i : 4 * i + 4]
        cycled = turn is not None and credential.id in next(members)
        record = _record(raw)
        remaining = max(deadline_of(raw) - now, 0.0) if raw else 0.0
        if record is not None and remaining > 0:
            state, reason = str(record.get("state", "cooling")), record.get("reason")
        else:
            at_cap = credential.max_concurrency is not None and busy >= credential.max_concurrency
            state, reason = ("busy" if at_cap else "available"), None
        rows.append(
            {
                "provider": credential.provider,
                "id": credential.id,
                "credential": credential.masked,
                "scope": credential.scope,
                "tier": credential.priority,
                "state": state,
                "reason": reason,
                "cooldown_scope": "credential" if remaining > 0 else None,
                "cooldown_remaining": round(remaining, 3),
                "in_flight": busy,
                "max_concurrency": credential.max_concurrency,
                "failures": int(failed or 0),
                "requests_this_minute": int(minute or 0),
                "fair_cycle": "exhausted" if cycled else "in_turn",
                "quota_groups": _group_cooldowns(groups[credential.id], group_values, now),
            }
        )
    return rows


def _quota_groups(config: RotatorConfig, provider: str) -> list[str]:
    settings = config.providers.get(provider)
    return sorted(settings.quota_groups) if settings is not None else []


def _group_cooldowns(groups: list[str], records: Iterator[bytes | None], now: float) -> dict[str, object]:
    """The quota-group cooldowns in force for one credential: group -> state, reason and seconds left."""
    cooling: dict[str, object] = {}
    for group in groups:
        raw = next(records)
        record = _record(raw)
        remaining = deadline_of(raw) - now if raw else 0.0
        if record is not None and remaining > 0:
            cooling[group] = {
                "state": record.get("state"),
                "reason": record.get("reason"),
                "cooldown_remaining": round(remaining, 3),
            }
    return cooling


def _record(raw: bytes | None) -> dict[str, Any] | None:
    """A cooldown record, or None for one that cannot be read (an introspection answer never fails on it)."""
    try:
        record = _json.loads(raw) if raw else None
    except _json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None
