"""The writes a batch can carry (:meth:`~asgi_rotator.state.base.StateBackend.write_many`)."""

from __future__ import annotations

from typing import Literal

#: One write of a batch: ``("set", key, value, ttl)``, ``("incr", key, amount, ttl)``,
#: ``("hincr", key, {field: amount}, ttl)`` for a hash of counters (the TTL starts when the hash is created),
#: ``("release", key, holder, None)`` to give a lease back, ``("delete", key, None, None)``, or
#: ``("append", key, value, ttl, max_len)`` for :meth:`~asgi_rotator.state.base.StateBackend.append`.
WriteOp = (
    tuple[Literal["set"], str, bytes, float | None]
    | tuple[Literal["incr"], str, int, float | None]
    | tuple[Literal["hincr"], str, dict[str, int], float | None]
    | tuple[Literal["release"], str, str, None]
    | tuple[Literal["delete"], str, None, None]
    | tuple[Literal["append"], str, bytes, float | None, int]
)
