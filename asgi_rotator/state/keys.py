"""The keyspace: every key the gateway keeps in the state backend is built here, and only here.

Keys are ``<state.prefix><family>:<parts...>``; a part that a client can choose (a model or quota group, a
scope, a usage dimension's name) is escaped so that it stays one ``:``-separated segment. ``<cred>`` below
is ``<scope or ->:<provider>:<credential fingerprint>`` (never a raw key).

On a Redis Cluster the prefix holds a hash tag (``{rotator}:``): only a key's first ``{...}`` decides its
slot, so every key below shares one slot, and any script may touch any of them together, including the keys
the admission and lineage scripts build from what they read.

    key                                      type            TTL                         written by
    cool:<cred>                              deadline        until the cooldown ends     CooldownBook
    cool:<cred>:g:<group>                    deadline        until the cooldown ends     CooldownBook
    mcool:<provider>:<group>                 deadline        until the cooldown ends     CooldownBook
    pcool:<provider>                         deadline        until the cooldown ends     CooldownBook
    level:<cooldown key>                     counter         4 x provider_backoff_max    CooldownBook
    hist:<provider>                          list (200)      cooldowns.provider_window   CooldownBook
    fails:<cred>                             counter         1 day                       CooldownBook
    fmodels:<cred>                           cycle (hash)    5 min from the first        CooldownBook
    lease:<cred>                             lease set       state.lease_ttl, renewed    CredentialPool
    used:<cred>                              value           1 day                       CredentialPool
    win:<cred>:<group>:r|t:<minute>          counter         150 s                       Windows
    win:<cred>:<group>:d:<day>               counter         1 day + 1 h                 Windows
    rpm:<cred>:<minute>                      counter         90 s                        Windows
    aff:<scope>:<provider>:<group>:<session> value           sessions.sticky_ttl         CredentialPool
    seq:<scope>:<provider>:<group>           value           fair_cycle.duration         CredentialPool
    cycle:<scope>:<provider>:<group>         cycle (hash)    fair_cycle.duration         CredentialPool
    turn:<cred>                              value           fair_cycle.duration         CredentialPool
    anchor:<scope>:<anchor hash>             value           sessions.anchor_ttl         SessionTracker
    resp:<response id>                       value           responses.ttl               ResponseStore
    respbytes:<owner>:<ttl bucket>           counter         2 x responses.ttl           ResponseStore
    fc:<sha256 of rule and scope>            value or list   the rule's ttl_seconds      FieldCache
    usage:<scope>:all                        counters        none: one field set per     UsageLedger
                                                             served model, credential
                                                             and client key
    usage:<scope>:minute|hour|day@<start>    counters        the window x (its series    UsageLedger
                                                             length + 1): 2 h, 7 d, 91 d
    quota:<client key fingerprint>:<period>@<start>  counters  until the period ends + 60 s  CredentialPool
                                                             (reserved), Generation (settled)
    disc:<provider>                          value (JSON)    24 x discovery.ttl          ModelDiscovery
    oauthlock:<cred>                         lease set (1)   45 s (one renewal)          OAuthCredentials
    oauth:<cred>                             value           30 days                     OAuthCredentials
    reqs:<scope>                             list (recent_requests.size)  recent_requests.ttl  RecentRequests
    config:runtime                           value (JSON)    none: one document, as      RuntimeStore
                                                             large as the runtime changes
                                                             made (the admin API removes)
    config:version                           value           none                        RuntimeStore
    config:lock                              lease set (1)   30 s (one change)           RuntimeStore

``oauth:<cred>`` holds an OAuth credential's newest tokens encrypted with ``state.encryption_key`` (Fernet);
it is written only when that key is set. ``<cred>`` of an OAuth file is the fingerprint of its path.

``config:runtime`` holds the providers, scopes and credentials added, changed or removed at runtime
(:mod:`asgi_rotator.runtime`); a secret in it is only a fingerprint, the secrets themselves ride in one field
encrypted with ``state.encryption_key``, or not at all without it. ``config:version`` is the document's
version, which replicas poll every ``state.runtime_poll_interval`` seconds.
"""

from __future__ import annotations

from typing import Protocol


class CredentialRef(Protocol):
    """What the keyspace needs of a credential: where it belongs and its fingerprint."""

    @property
    def scope(self) -> str | None: ...

    @property
    def provider(self) -> str: ...

    @property
    def id(self) -> str: ...


def part(name: str) -> str:
    """``name`` made safe as one ``:``-separated key segment."""
    return name.replace("%", "%25").replace(":", "%3A")


def _scope(scope: str | None) -> str:
    return part(scope) if scope else "-"


class Keyspace:
    """Builds the gateway's state keys under one prefix (``state.prefix``)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "rotator:") -> None:
        self.prefix = prefix

    def _credential(self, family: str, credential: CredentialRef) -> str:
        return f"{self.prefix}{family}:{_scope(credential.scope)}:{credential.provider}:{credential.id}"

    def _shared(self, family: str, scope: str | None, provider: str, group: str) -> str:
        return f"{self.prefix}{family}:{_scope(scope)}:{provider}:{part(group)}"

    # -- cooldowns ---------------------------------------------------------------------------------------

    def cooldown(self, credential: CredentialRef) -> str:
        """A credential's own cooldown (or bench)."""
        return self._credential("cool", credential)

    def group_cooldown(self, credential: CredentialRef, group: str) -> str:
        """A credential's cooldown for one quota group."""
        return f"{self._credential('cool', credential)}:g:{part(group)}"

    def model_cooldown(self, provider: str, group: str) -> str:
        """A model's (or quota group's) cooldown at a provider, for every credential."""
        return f"{self.prefix}mcool:{provider}:{part(group)}"

    def provider_cooldown(self, provider: str) -> str:
        """A whole provider's cooldown."""
        return f"{self.prefix}pcool:{provider}"

    def backoff_level(self, cooldown_key: str) -> str:
        """How many times in a row the model or provider cooldown at ``cooldown_key`` was started."""
        return f"{self.prefix}level:{cooldown_key.removeprefix(self.prefix)}"

    def failure_history(self, provider: str) -> str:
        """Recent transient failures at a provider (which credential, which model)."""
        return f"{self.prefix}hist:{provider}"

    def failure_count(self, credential: CredentialRef) -> str:
        """Failures of a credential in the last day (for display)."""
        return self._credential("fails", credential)

    def failed_models(self, credential: CredentialRef) -> str:
        """The models a credential was rate-limited on lately (three lock it out)."""
        return self._credential("fmodels", credential)

    # -- selection ---------------------------------------------------------------------------------------

    def lease(self, credential: CredentialRef) -> str:
        """The in-flight requests of a credential."""
        return self._credential("lease", credential)

    def last_used(self, credential: CredentialRef) -> str:
        """When a credential last served (for least-recently-used selection)."""
        return self._credential("used", credential)

    def window_prefix(self, credential: CredentialRef, group: str) -> str:
        """The start of a credential's counters for a model group: ``<prefix>r:<minute>`` counts requests,
        ``t:<minute>`` tokens, ``d:<day>`` the day's requests (built once, completed per request)."""
        return f"{self._credential('win', credential)}:{part(group)}:"

    def credential_minute(self, credential: CredentialRef, minute: int) -> str:
        """A credential's requests in one minute, across models (for display)."""
        return f"{self._credential('rpm', credential)}:{minute}"

    def affinity(self, scope: str | None, provider: str, group: str, session: str) -> str:
        """The credential a session sticks to for a model group."""
        return f"{self._shared('aff', scope, provider, group)}:{part(session)}"

    def cursor(self, scope: str | None, provider: str, group: str) -> str:
        """Sequential selection's active credential."""
        return self._shared("seq", scope, provider, group)

    def fair_cycle(self, scope: str | None, provider: str, group: str) -> str:
        """The credentials that already had their turn in the current fair cycle."""
        return self._shared("cycle", scope, provider, group)

    def cycle_turn(self, credential: CredentialRef) -> str:
        """The fair cycle a credential last spent its turn in (for display)."""
        return self._credential("turn", credential)

    def oauth_lock(self, credential: CredentialRef) -> str:
        """The renewal lock of an OAuth credential (a lease set of limit 1)."""
        return self._credential("oauthlock", credential)

    def oauth_tokens(self, credential: CredentialRef) -> str:
        """An OAuth credential's newest tokens, encrypted, for the other replicas."""
        return self._credential("oauth", credential)

    # -- conversations -----------------------------------------------------------------------------------

    def anchor(self, scope: str | None, anchor: str) -> str:
        """The session a piece of conversation evidence belongs to."""
        return f"{self.prefix}anchor:{_scope(scope)}:{anchor}"

    def response(self, response_id: str) -> str:
        """A stored Responses API response."""
        return f"{self.prefix}resp:{part(response_id)}"

    def stored_bytes(self, owner: str, bucket: int) -> str:
        """Bytes of responses one owner stored in one ``responses.ttl`` bucket."""
        return f"{self.prefix}respbytes:{part(owner)}:{bucket}"

    def field_cache(self, digest: str) -> str:
        """A field-cache value, under the digest of its rule and scope components."""
        return f"{self.prefix}fc:{digest}"

    # -- usage -------------------------------------------------------------------------------------------

    def usage_total(self, scope_tag: str) -> str:
        """A scope's all-time usage counters (``scope_tag`` is already escaped)."""
        return f"{self.prefix}usage:{scope_tag}:all"

    def usage_bucket(self, scope_tag: str, window: str, start: int) -> str:
        """A scope's usage counters in one minute, hour or day bucket starting at ``start``."""
        return f"{self.prefix}usage:{scope_tag}:{window}@{start}"

    def quota(self, client_key: str, period: str, start: int) -> str:
        """A client key's usage in one budget period."""
        return f"{self.prefix}quota:{part(client_key)}:{period}@{start}"

    # -- introspection -----------------------------------------------------------------------------------

    def recent_requests(self, scope: str | None) -> str:
        """The summaries of a scope's most recent requests (``-`` for global), newest last."""
        return f"{self.prefix}reqs:{_scope(scope)}"

    # -- runtime configuration -----------------------------------------------------------------------------

    def runtime_config(self) -> str:
        """The runtime changes over the configuration file, one JSON document."""
        return f"{self.prefix}config:runtime"

    def runtime_version(self) -> str:
        """The version of the runtime changes (what replicas poll)."""
        return f"{self.prefix}config:version"

    def runtime_lock(self) -> str:
        """The lock one runtime change holds while it reads, checks and writes (a lease set of limit 1)."""
        return f"{self.prefix}config:lock"

    # -- catalogue ---------------------------------------------------------------------------------------

    def discovered_models(self, provider: str) -> str:
        """A provider's own model list, with when to refresh it."""
        return f"{self.prefix}disc:{part(provider)}"


def scope_tag(scope: str | None) -> str:
    """The key segment for a tenant scope (``-`` for global)."""
    return _scope(scope)
