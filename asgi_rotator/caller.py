"""Who is calling: the identity the edge authenticates and every layer below reads (scope, ownership, budgets)."""

from __future__ import annotations

from dataclasses import dataclass

from .config.models import Budget


@dataclass(frozen=True, slots=True)
class Caller:
    """A client key's fingerprint (never the key), its tenant scope, whether it is an admin, and its budget."""

    key_id: str | None
    scope: str | None = None
    admin: bool = False
    budget: Budget | None = None

    @property
    def owner(self) -> str:
        """Who owns what this caller creates (stored responses, traces): its scope, else its key."""
        return f"scope:{self.scope}" if self.scope is not None else f"key:{self.key_id or '-'}"


#: The ASGI scope key under which an in-process call (the Python API) hands the gateway its caller, instead of
#: a client key. Only code in the same process can set it; HTTP clients cannot reach the scope.
IN_PROCESS_CALLER = "asgi_rotator.caller"

#: The request header that brings the caller's own provider key for one call (bring-your-own-key). It is used
#: for that call only: never stored, pooled, traced or sent anywhere but the requested provider.
OWN_KEY_HEADER = "x-rotator-provider-key"
