"""The runtime overlay: providers, scopes and credentials added, changed or removed while the gateway runs, over
the configuration file. Pure data work, no I/O.

Entries are kept as a configuration file would hold them. A *key entry* (a provider or scope credential, or a
client key of a scope) holds its raw ``key`` when this replica knows the secret, and only its fingerprint
``key_id`` when it does not (another replica received it and had no ``state.encryption_key`` to share it
with): such an entry stays in the overlay, so a change made here never drops it, but serves nothing here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config.models import RotatorConfig
from ..credentials.identity import mask
from ..errors import ConfigError

#: A credential's id from its raw key (the keyed fingerprint every replica computes alike).
Fingerprint = Callable[[str], str]


@dataclass(slots=True, repr=False)
class Overlay:
    """The runtime changes, in the order they apply: removals, then replacements, then credential changes of
    providers that come from the file. Its ``repr`` names what changed, never a secret."""

    version: int = 0
    #: Providers added or replaced, as a config file would hold them.
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Providers of the file that were removed.
    removed_providers: list[str] = field(default_factory=list)
    #: Credential entries added to providers of the file.
    credentials: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Fingerprints of credentials removed from providers of the file.
    removed_credentials: dict[str, list[str]] = field(default_factory=dict)
    #: Scopes added or replaced (``api_keys``: client keys of the scope, as ``auth.api_keys`` entries).
    scopes: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed_scopes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Overlay(version={self.version}, providers={sorted(self.providers)}, scopes={sorted(self.scopes)})"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Overlay:
        """The overlay a :meth:`to_dict` produced."""
        return cls(**{name: copy.deepcopy(data[name]) for name in _FIELDS if name in data})

    def to_dict(self) -> dict[str, Any]:
        """A deep, JSON-ready copy."""
        return {name: copy.deepcopy(getattr(self, name)) for name in _FIELDS}

    def key_entries(self) -> Iterator[dict[str, Any]]:
        """Every key entry, to seal, fill in or mask in place."""
        lists: list[Any] = [p.get("credentials") for p in self.providers.values()]
        lists += self.credentials.values()
        for scope in self.scopes.values():
            lists.append(scope.get("api_keys"))
            providers = scope.get("providers")
            if isinstance(providers, dict):
                lists += [p.get("credentials") for p in providers.values() if isinstance(p, dict)]
        for entries in lists:
            if isinstance(entries, list):
                yield from (entry for entry in entries if isinstance(entry, dict))

    # -- changes: each returns a new overlay ---------------------------------------------------------------

    def put_provider(self, name: str, fields: Mapping[str, Any]) -> Overlay:
        """Add provider ``name``, or replace it whole (a provider of the file included)."""
        where = f"providers.{name}"
        if fields.get("client_secret") is not None:
            raise ConfigError(f"{where}.client_secret: set OAuth client secrets in the configuration file")
        new = self._copy()
        new.providers[name] = _with_entries(fields, "credentials", where)
        new.removed_providers = [p for p in new.removed_providers if p != name]
        new.credentials.pop(name, None)
        new.removed_credentials.pop(name, None)
        return new

    def remove_provider(self, name: str, base: RotatorConfig) -> Overlay:
        """Remove provider ``name``, whether the file or a runtime change added it.

        Raises:
            LookupError: there is no such provider.
        """
        if name not in self.providers and (name not in base.providers or name in self.removed_providers):
            raise LookupError(f"No provider named '{name}'.")
        new = self._copy()
        new.providers.pop(name, None)
        new.credentials.pop(name, None)
        new.removed_credentials.pop(name, None)
        if name in base.providers:
            new.removed_providers.append(name)
        return new

    def add_credential(self, provider: str, entry: Any, base: RotatorConfig, fingerprint: Fingerprint) -> Overlay:
        """Add one credential (a key string, or ``{key, priority, max_concurrency, rpm, tpm, daily}``)."""
        where = f"providers.{provider}.credentials"
        (added,) = _entries([entry], where)
        if not isinstance(added, dict) or not isinstance(added.get("key"), str):
            raise ConfigError(f"{where}: a credential added at runtime needs its key (a string)")
        secret = added["key"].strip()
        if fingerprint(secret) in self._credential_ids(provider, base, fingerprint):
            raise ConfigError(f"{where}: this key is already a credential of '{provider}'")
        new = self._copy()
        if provider in new.providers:
            new.providers[provider].setdefault("credentials", []).append(added)
        else:
            new.credentials.setdefault(provider, []).append(added)
        return new

    def remove_credential(self, provider: str, ref: str, base: RotatorConfig, fingerprint: Fingerprint) -> Overlay:
        """Remove the credential of ``provider`` whose id (fingerprint) or masked form (``...abcd``) is ``ref``.

        Raises:
            LookupError: no such provider, or no credential (or more than one) matches ``ref``.
        """
        ids = self._credential_ids(provider, base, fingerprint)
        found = [i for i, masked in ids.items() if ref in (i, masked)]
        if len(found) != 1:
            problem = "matches several credentials; use its id" if found else "names no credential"
            raise LookupError(f"The credential given {problem} of provider '{provider}'.")
        gone = found[0]
        new = self._copy()
        lists = [new.providers[provider].get("credentials", [])] if provider in new.providers else []
        lists.append(new.credentials.get(provider, []))
        for entries in lists:
            kept = [e for e in entries if _entry_id(e, fingerprint) != gone]
            if len(kept) != len(entries):
                entries[:] = kept
                return new
        new.removed_credentials.setdefault(provider, []).append(gone)
        return new

    def put_scope(self, name: str, fields: Mapping[str, Any]) -> Overlay:
        """Add scope ``name``, or replace it whole: ``providers`` (its own credentials), ``fallback_to_global``,
        and ``api_keys``, client keys that belong to it (strings or ``{key, name, budget}``)."""
        where = f"scopes.{name}"
        scope = _with_entries(fields, "api_keys", where)
        providers = scope.get("providers")
        if isinstance(providers, dict):
            scope["providers"] = {
                p: _with_entries(v, "credentials", f"{where}.providers.{p}") if isinstance(v, Mapping) else v
                for p, v in providers.items()
            }
        new = self._copy()
        new.scopes[name] = scope
        new.removed_scopes = [s for s in new.removed_scopes if s != name]
        return new

    def remove_scope(self, name: str, base: RotatorConfig) -> Overlay:
        """Remove scope ``name``, whether the file or a runtime change added it.

        Raises:
            LookupError: there is no such scope.
        """
        if name not in self.scopes and (name not in base.scopes or name in self.removed_scopes):
            raise LookupError(f"No scope named '{name}'.")
        new = self._copy()
        new.scopes.pop(name, None)
        if name in base.scopes:
            new.removed_scopes.append(name)
        return new

    # -- reading -------------------------------------------------------------------------------------------

    def apply(self, base: RotatorConfig, fingerprint: Fingerprint) -> dict[str, Any]:
        """The configuration ``base`` becomes with these changes, unvalidated (as a file would hold it). Key
        entries whose secret this replica lacks are left out."""
        raw = base.model_dump()
        providers, scopes = raw["providers"], raw["scopes"]
        for name in self.removed_providers:
            providers.pop(name, None)
        providers.update((name, _usable(fields, "credentials")) for name, fields in self.providers.items())
        for name, added in self.credentials.items():
            if name in providers:
                providers[name]["credentials"] = [*providers[name]["credentials"], *_known(added)]
        for name, removed in self.removed_credentials.items():
            if name in providers:
                kept = [c for c in providers[name]["credentials"] if _entry_id(c, fingerprint) not in removed]
                providers[name]["credentials"] = kept
        for name in self.removed_scopes:
            scopes.pop(name, None)
        for name, fields in self.scopes.items():
            scope = {k: v for k, v in fields.items() if k != "api_keys"}
            if isinstance(scope.get("providers"), dict):
                scope["providers"] = {
                    p: _usable(v, "credentials") if isinstance(v, dict) else v for p, v in scope["providers"].items()
                }
            scopes[name] = scope
            keys = fields.get("api_keys")
            if isinstance(keys, list):
                raw["auth"]["api_keys"] += [{**k, "scope": name} if isinstance(k, dict) else k for k in _known(keys)]
        return raw

    def masked(self, fingerprint: Fingerprint) -> dict[str, Any]:
        """:meth:`to_dict` with every secret replaced by its id and masked form (``available: false`` where
        this replica does not hold the secret)."""
        shown = Overlay.from_dict(self.to_dict())
        for entry in shown.key_entries():
            secret = entry.pop("key", None)
            if isinstance(secret, str):
                entry.update(id=fingerprint(secret), masked=mask(secret))
            elif "key_id" in entry:
                entry.update(id=entry.pop("key_id"), available=False)
        return shown.to_dict()

    def _copy(self) -> Overlay:
        return Overlay.from_dict(self.to_dict())

    def _credential_ids(self, provider: str, base: RotatorConfig, fingerprint: Fingerprint) -> dict[str, str]:
        """The id and masked form of each credential ``provider`` has with these changes (the secrets this
        replica lacks count, by id)."""
        if provider in self.providers:
            entries: list[Any] = list(self.providers[provider].get("credentials", []))
        elif provider in base.providers and provider not in self.removed_providers:
            removed = self.removed_credentials.get(provider, [])
            file_entries = base.model_dump()["providers"][provider]["credentials"]
            entries = [e for e in file_entries if _entry_id(e, fingerprint) not in removed]
            entries += self.credentials.get(provider, [])
        else:
            raise LookupError(f"No provider named '{provider}'.")
        ids = {}
        for entry in entries:
            ident = _entry_id(entry, fingerprint)
            if ident is not None:
                secret = _secret(entry.get("key"))
                ids[ident] = mask(secret) if secret else ident
        return ids


_FIELDS = (
    "version",
    "providers",
    "removed_providers",
    "credentials",
    "removed_credentials",
    "scopes",
    "removed_scopes",
)


def _with_entries(fields: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    """A copy of ``fields`` with the key entries of list ``name`` normalized (a bare string is ``{key: ...}``)."""
    copied = copy.deepcopy(dict(fields))
    if isinstance(copied.get(name), list):
        copied[name] = _entries(copied[name], f"{where}.{name}")
    return copied


def _entries(entries: list[Any], where: str) -> list[Any]:
    normalized = [{"key": e} if isinstance(e, str) else e for e in entries]
    for i, entry in enumerate(normalized):
        if isinstance(entry, dict) and "key_id" in entry:
            raise ConfigError(f"{where}[{i}].key_id: the gateway sets key_id; give the key itself")
    return normalized


def _known(entries: list[Any]) -> list[Any]:
    """The entries that can serve on this replica (not those known only by ``key_id``)."""
    return [e for e in entries if not (isinstance(e, dict) and "key_id" in e and "key" not in e)]


def _usable(fields: Mapping[str, Any], name: str) -> dict[str, Any]:
    copied = dict(fields)
    if isinstance(copied.get(name), list):
        copied[name] = _known(copied[name])
    return copied


def _secret(value: Any) -> str | None:
    """A raw key, whether a string or a pydantic secret."""
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return raw.strip() if isinstance(raw, str) else None


def _entry_id(entry: Any, fingerprint: Fingerprint) -> str | None:
    if not isinstance(entry, dict):
        return None
    secret = _secret(entry.get("key"))
    if secret:
        return fingerprint(secret)
    ident = entry.get("key_id")
    return ident if isinstance(ident, str) else None
