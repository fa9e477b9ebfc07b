"""Stored Responses API state, in the state backend so that every replica can read and continue it.

A stored response keeps what a continuation needs (its input items and the response object with its output
items) and who may see it: the caller's scope for scoped keys, the key's fingerprint for global keys, or
everyone when ``responses.shared`` is set. Entries expire after ``responses.ttl``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from cachetools import TTLCache

from .. import _json
from ..caller import Caller
from ..config.models import ResponsesConfig
from ..errors import GatewayError
from ..state.base import StateBackend, WriteOp
from ..state.keys import Keyspace


@dataclass(slots=True)
class StoredResponse:
    """One response as stored: the object clients get back, plus its inputs and lineage."""

    id: str
    owner: str
    response: dict[str, Any]
    input_items: list[dict[str, Any]] = field(default_factory=list)
    previous_response_id: str | None = None
    session: str | None = None

    @property
    def output_items(self) -> list[dict[str, Any]]:
        """The response's output items."""
        output = self.response.get("output")
        return output if isinstance(output, list) else []


def owner_of(caller: Caller, config: ResponsesConfig) -> str:
    """Who owns the responses ``caller`` creates."""
    return "*" if config.shared else caller.owner


def not_found(response_id: str) -> GatewayError:
    """The 404 OpenAI gives for an unknown (or someone else's) response id."""
    return GatewayError("not_found", f"Response with id '{response_id}' not found.", param="response_id")


#: Seconds an owner's stored-bytes count is reused before it is read again.
_USED_FRESH_FOR = 2.0


class ResponseStore:
    """Responses by id, with ownership checks and lineage walks."""

    def __init__(self, backend: StateBackend, keys: Keyspace, config: ResponsesConfig) -> None:
        self._backend = backend
        self._keys = keys
        self._config = config
        #: Owners' stored bytes as last read (owner names are bounded by the configured scopes and keys).
        self._used: TTLCache[str, int] = TTLCache(maxsize=4096, ttl=_USED_FRESH_FOR)

    def put_ops(self, stored: StoredResponse) -> list[WriteOp]:
        """The writes that store (or replace) a response for ``responses.ttl`` seconds and count its bytes
        against its owner."""
        blob = _json.dumps(asdict(stored))
        if stored.owner in self._used:  # this replica's view stays current between reads
            self._used[stored.owner] += len(blob)
        return [
            ("set", self._keys.response(stored.id), blob, float(self._config.ttl)),
            ("incr", self._keys.stored_bytes(stored.owner, self._bucket()), len(blob), 2.0 * self._config.ttl),
        ]

    async def check_room(self, owner: str) -> None:
        """Refuse a new stored response when ``owner`` stored ``responses.max_bytes_per_owner`` bytes within the
        last one to two ``responses.ttl`` (a sliding bound on what it can hold at once).

        The count is read at most every couple of seconds per owner (a soft byte cap does not need to be exact,
        and a request keeps its round trips to the state backend for what must be).

        Raises:
            GatewayError: 429 naming the limit and the way out.
        """
        used = self._used.get(owner)
        if used is None:
            bucket = self._bucket()
            keys = [self._keys.stored_bytes(owner, bucket), self._keys.stored_bytes(owner, bucket - 1)]
            used = sum(int(value) for value in await self._backend.get_many(keys) if value)
            self._used[owner] = used
        if used >= self._config.max_bytes_per_owner:
            raise GatewayError(
                "rate_limit",
                f"This caller stored {used} bytes of responses (limit {self._config.max_bytes_per_owner}); "
                "send store: false, or wait for stored responses to expire.",
                param="store",
                retry_after=float(self._config.ttl),
            )

    def _bucket(self) -> int:
        return int(time.time() // self._config.ttl)

    async def get(self, response_id: str, caller: Caller) -> StoredResponse:
        """The response, if ``caller`` may see it.

        Raises:
            GatewayError: 404 when it does not exist, expired, or belongs to someone else (indistinguishable,
                so that ids cannot be probed across tenants).
        """
        raw = await self._backend.get(self._keys.response(response_id))
        if raw is None:
            raise not_found(response_id)
        stored = StoredResponse(**_json.loads(raw))
        if not self._visible(stored, caller):
            raise not_found(response_id)
        return stored

    async def delete(self, response_id: str, caller: Caller) -> None:
        """Delete a response the client may see (404 otherwise)."""
        await self.get(response_id, caller)
        await self._backend.delete(self._keys.response(response_id))

    async def lineage(self, response_id: str, caller: Caller) -> list[StoredResponse]:
        """The chain ending at ``response_id``, oldest first, read in one round trip however deep it is.

        Raises:
            GatewayError: 404 for a missing (or someone else's) ancestor; 400 when the chain is deeper than
                ``responses.max_depth`` (never a silent cut) or loops.
        """
        limit = self._config.max_depth
        prefix = self._keys.response("")
        values = await self._backend.follow(self._keys.response(response_id), "previous_response_id", prefix, limit + 1)
        chain: list[StoredResponse] = []
        seen: set[str] = set()
        wanted: str | None = response_id
        for raw in values:
            stored = StoredResponse(**_json.loads(raw))
            if stored.id in seen:
                raise GatewayError(
                    "invalid_request", f"The response chain loops at '{stored.id}'.", param="previous_response_id"
                )
            if len(chain) >= limit:
                raise GatewayError(
                    "invalid_request",
                    f"The conversation behind previous_response_id is longer than responses.max_depth "
                    f"({limit}) responses; raise the limit or start a new conversation.",
                    param="previous_response_id",
                )
            if not self._visible(stored, caller):
                raise not_found(stored.id)
            seen.add(stored.id)
            chain.append(stored)
            wanted = stored.previous_response_id
        if wanted is not None:
            raise not_found(wanted)
        chain.reverse()
        return chain

    def _visible(self, stored: StoredResponse, caller: Caller) -> bool:
        return caller.admin or stored.owner in ("*", owner_of(caller, self._config))
