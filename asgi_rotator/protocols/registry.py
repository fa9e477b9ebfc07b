"""Protocol registries: names and aliases to protocol instances, one registry per app.

:func:`builtin_protocols` gives a fresh registry holding the four built-in protocols; an app that needs a
custom protocol (or a deviating subclass under a built-in name) registers it on its own registry and passes
that to ``RotatorASGI(config, protocols=...)``, so no other app in the process sees it.
"""

from __future__ import annotations

from collections.abc import Iterable

from .base import WireProtocol


class ProtocolRegistry:
    """Protocols by name and alias, with collisions rejected.

    Args:
        protocols: protocols to register at once.
    """

    def __init__(self, protocols: Iterable[WireProtocol] = ()) -> None:
        self._by_name: dict[str, WireProtocol] = {}
        for protocol in protocols:
            self.register(protocol)

    def register(self, protocol: WireProtocol, *, replace: bool = False) -> None:
        """Register ``protocol`` under its name and aliases.

        Raises:
            ValueError: a name or alias is already taken by another protocol class (unless ``replace``).
        """
        keys = (protocol.name, *protocol.aliases)
        for key in keys:
            existing = self._by_name.get(key)
            if existing is not None and type(existing) is not type(protocol) and not replace:
                raise ValueError(f"Protocol name {key!r} is already registered by {type(existing).__name__}")
        for key in keys:
            self._by_name[key] = protocol

    def get(self, name: str) -> WireProtocol:
        """The protocol registered under ``name`` or one of its aliases.

        Raises:
            KeyError: no protocol has that name.
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"Unknown protocol {name!r}; known: {', '.join(self.names())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        """Canonical names of every registered protocol."""
        return sorted({p.name for p in self._by_name.values()})
