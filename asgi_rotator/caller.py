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
