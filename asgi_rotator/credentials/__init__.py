"""Credentials: identity and fingerprints, the pool that leases them, selection, cooldowns and limits."""

from __future__ import annotations
