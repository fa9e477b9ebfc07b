"""Request and token windows per credential, and the caps that keep a credential under its limits.

A credential's known limits (``rpm``, ``tpm``, ``daily`` on the credential) are tightened by the provider's
``caps`` for a model or quota group (an absolute number, or a percentage of the known limit); a cap never
loosens a limit. A cap key may name credential tiers: ``t2:gpt-4.1`` applies to priority-2 credentials,
``t1-3:*`` to tiers 1 to 3; a tier's own cap wins over an untiered one.

Minute windows slide (the previous minute counts in proportion to how much of it is still inside the last
60 seconds, unrounded); the daily window resets at the provider's ``daily_reset_hour`` (UTC). A capped
credential is skipped by selection, never failed. The check and the count are one atomic
admission (:mod:`asgi_rotator.state.admission`), so concurrent requests land exactly on a cap.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config.models import CapConfig, RotatorConfig
from ..state.admission import Window
from ..state.base import WriteOp
from ..state.keys import Keyspace
from .identity import Credential

_DAY = 86400.0
#: A minute counter is read as "previous minute" for 60 s after its own minute ends.
_MINUTE_TTL = 150.0


@dataclass(frozen=True, slots=True)
class Caps:
    """Effective limits for one credential and model; None means unlimited."""

    rpm: int | None = None
    tpm: int | None = None
    daily: int | None = None
    #: The cap's ``cooldown`` setting (``quota_reset``, ``offset:<s>`` or ``fixed:<s>``).
    cooldown: str = "quota_reset"

    def cap_cooldown(self, resets_in: float) -> float | None:
        """Seconds a credential that just reached a cap stays out, beyond its window, or None for none."""
        mode, _, seconds = self.cooldown.partition(":")
        if mode == "fixed":
            return max(float(seconds), resets_in)
        if mode == "offset":
            return resets_in + float(seconds)
        return None

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


_TIERED = re.compile(r"t(\d+)(?:-(\d+))?:(.+)")
#: No provider cap: the credential's own limits apply (built once: a pydantic model per call is not free).
_UNCAPPED = CapConfig()


def _by_target(caps: dict[str, CapConfig]) -> dict[str, list[tuple[tuple[int, int] | None, CapConfig]]]:
    """``caps`` keyed by the model, group or ``*`` each applies to; ``t2:gpt-4.1`` and ``t1-3:*`` name tiers."""
    out: dict[str, list[tuple[tuple[int, int] | None, CapConfig]]] = {}
    for key, cap in caps.items():
        tiered = _TIERED.fullmatch(key)
        if tiered is None:
            out.setdefault(key, []).append((None, cap))
        else:
            low = int(tiered[1])
            out.setdefault(tiered[3], []).append(((low, int(tiered[2] or low)), cap))
    return out


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
        #: Per provider, per model, group or ``*``: ``(tier range or None, cap)``, as ``caps`` keys spell them.
        self._caps = {name: _by_target(provider.caps) for name, provider in config.providers.items() if provider.caps}
        #: Per credential and model, decided once by the config: the effective caps and the prefix of the
        #: window keys. Bounded: clients name models.
        self._resolved: dict[tuple[str | None, str, str, str], tuple[Caps, str]] = {}

    def caps(self, credential: Credential, model: str) -> Caps:
        """The effective caps of ``credential`` for ``model``: the first of its tier's cap for the model, for
        its quota group, for ``*``, then the untiered ones in the same order (the seed's precedence)."""
        return self._counters(credential, model)[0]

    def _counters(self, credential: Credential, model: str) -> tuple[Caps, str]:
        key = (credential.scope, credential.provider, credential.id, model)
        found = self._resolved.get(key)
        if found is None:
            if len(self._resolved) >= 10_000:
                self._resolved.clear()
            group = self._group_of(credential.provider, model)
            found = self._resolved[key] = self._resolve(credential, model), self._keys.window_prefix(credential, group)
        return found

    def _resolve(self, credential: Credential, model: str) -> Caps:
        cap = _UNCAPPED
        tiered = self._caps.get(credential.provider)
        if tiered is not None:
            group = self._group_of(credential.provider, model)
            candidates = [(tiers, cap) for name in (model, group, "*") for tiers, cap in tiered.get(name, [])]
            for tiers, found in sorted(candidates, key=lambda c: c[0] is None):  # tiered first, order kept
                if tiers is None or tiers[0] <= credential.priority <= tiers[1]:
                    cap = found
                    break
        return Caps(
            _tighten(credential.rpm, cap.rpm),
            _tighten(credential.tpm, cap.tpm),
            _tighten(credential.daily, cap.daily),
            cap.cooldown,
        )

    def _day(self, provider: str, now: float) -> tuple[int, float]:
        """The day number at ``now`` and seconds until it ends, for the provider's reset hour."""
        reset = self._config.providers[provider].daily_reset_hour * 3600 if provider in self._config.providers else 0
        shifted = now - reset
        return int(shifted // _DAY), _DAY - shifted % _DAY

    def clocks(self, provider: str, now: float) -> tuple[float, float, float]:
        """``(carry, minute_left, day_left)`` at ``now``: the share of the previous minute still inside the
        sliding minute, and the seconds until the minute and the provider's day end (an admission's
        ``carry``, ``minute_left`` and ``day_left``)."""
        return 1 - (now % 60) / 60, 60 - now % 60, self._day(provider, now)[1]

    def windows(self, credential: Credential, model: str, minute: int) -> tuple[Window, ...]:
        """The counters an admission of ``credential`` for ``model`` checks and counts in ``minute`` (Unix
        time // 60): requests in the sliding minute (always counted: balanced selection ranks by it), and
        tokens and requests today when capped."""
        caps, prefix = self._counters(credential, model)
        windows = [Window(f"{prefix}r:{minute}", caps.rpm, 1, _MINUTE_TTL, f"{prefix}r:{minute - 1}", ranks=True)]
        if caps.tpm is not None:  # tokens are counted when the request ends; admission only checks them
            windows.append(Window(f"{prefix}t:{minute}", caps.tpm, 0, _MINUTE_TTL, f"{prefix}t:{minute - 1}"))
        if caps.daily is not None:
            day, _ = self._day(credential.provider, minute * 60)
            windows.append(Window(f"{prefix}d:{day}", caps.daily, 1, _DAY + 3600, daily=True))
        return tuple(windows)

    def credential_minute_key(self, credential: Credential, minute: int) -> str:
        """The counter of the credential's requests in ``minute`` (Unix time // 60), across models (for display)."""
        return self._keys.credential_minute(credential, minute)

    def token_ops(self, credential: Credential, model: str, tokens: int) -> list[WriteOp]:
        """The writes that add a finished request's tokens to the credential's minute window."""
        caps, prefix = self._counters(credential, model)
        if tokens <= 0 or caps.tpm is None:
            return []
        return [("incr", f"{prefix}t:{int(self._clock() // 60)}", tokens, _MINUTE_TTL)]
