"""Request and token windows per credential, and the caps that keep a credential under its limits.

A credential's known limits (``rpm``, ``tpm``, ``daily`` on the credential) are tightened by the provider's
``caps`` for a model or quota group (an absolute number, or a percentage of the known limit); a cap never
loosens a limit. Minute windows slide (the previous minute counts in proportion to how much of it is still
inside the last 60 seconds); the daily window resets at the provider's ``daily_reset_hour`` (UTC).
A capped credential is skipped by selection, never failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config.models import CapConfig, RotatorConfig
from ..state.base import WriteOp
from ..state.keys import Keyspace
from .identity import Credential

_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Caps:
    """Effective limits for one credential and model; None means unlimited."""

    rpm: int | None = None
    tpm: int | None = None
    daily: int | None = None

    def __bool__(self) -> bool:
        return self.rpm is not None or self.tpm is not None or self.daily is not None


def _tighten(known: int | None, cap: int | str | None) -> int | None:
    if isinstance(cap, str):  # a percentage of the known limit; meaningless without one
        if known is None:
            return None
        return max(int(known * float(cap.rstrip("%")) / 100), 1)
    if cap is None:
        return known
    return cap if known is None else min(known, cap)


class Windows:
    """Counts requests and tokens per credential and model group, and answers whether a cap is reached."""

    def __init__(
        self,
        config: RotatorConfig,
        keys: Keyspace,
        group_of: Callable[[str, str], str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._keys = keys
        self._group_of = group_of
        self._clock = clock

    def caps(self, credential: Credential, model: str) -> Caps:
        """The effective caps of ``credential`` for ``model``."""
        provider = self._config.providers.get(credential.provider)
        cap = CapConfig()
        if provider is not None:
            caps = provider.caps
            cap = caps.get(model) or caps.get(self._group_of(credential.provider, model)) or caps.get("*") or cap
        return Caps(
            _tighten(credential.rpm, cap.rpm), _tighten(credential.tpm, cap.tpm), _tighten(credential.daily, cap.daily)
        )

    def _day(self, provider: str) -> tuple[int, float]:
        """The current day number and seconds until it ends, for the provider's reset hour."""
        reset = self._config.providers[provider].daily_reset_hour * 3600 if provider in self._config.providers else 0
        shifted = self._clock() - reset
        return int(shifted // _DAY), _DAY - shifted % _DAY

    def keys(self, credential: Credential, model: str) -> list[str]:
        """Counter keys read for one candidate: requests and tokens this and last minute, requests today."""
        group, minute = self._group_of(credential.provider, model), int(self._clock() // 60)
        day, _ = self._day(credential.provider)
        window = self._keys.window
        return [
            window(credential, group, "r", minute),
            window(credential, group, "r", minute - 1),
            window(credential, group, "t", minute),
            window(credential, group, "t", minute - 1),
            window(credential, group, "d", day),
        ]

    def evaluate(self, credential: Credential, caps: Caps, values: list[bytes | None]) -> tuple[int, float | None]:
        """``(requests in the sliding minute, seconds until a reached cap frees it or None)``."""
        current_r, last_r, current_t, last_t, today = (int(v) if v else 0 for v in values)
        now = self._clock()
        carry = 1 - (now % 60) / 60  # share of the previous minute still inside the sliding window
        requests = current_r + int(last_r * carry)
        tokens = current_t + int(last_t * carry)
        wait: float | None = None
        if caps.rpm is not None and requests >= caps.rpm or caps.tpm is not None and tokens >= caps.tpm:
            wait = 60 - now % 60
        if caps.daily is not None and today >= caps.daily:
            wait = self._day(credential.provider)[1]
        return requests, wait

    def credential_minute_key(self, credential: Credential) -> str:
        """The counter of the credential's requests this minute, across models (for display)."""
        return self._keys.credential_minute(credential, int(self._clock() // 60))

    def request_ops(self, credential: Credential, model: str) -> list[WriteOp]:
        """The writes that add one request to the credential's windows."""
        keys = self.keys(credential, model)
        return [
            ("incr", keys[0], 1, 150.0),
            ("incr", keys[4], 1, _DAY + 3600),
            ("incr", self.credential_minute_key(credential), 1, 90.0),
        ]

    def token_ops(self, credential: Credential, model: str, tokens: int) -> list[WriteOp]:
        """The writes that add a finished request's tokens to the credential's minute window."""
        return [("incr", self.keys(credential, model)[2], tokens, 150.0)] if tokens > 0 else []
