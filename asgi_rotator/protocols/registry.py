"""The protocol registry: names and aliases to protocol instances, with collisions rejected."""

from __future__ import annotations

from .base import WireProtocol

_BY_NAME: dict[str, WireProtocol] = {}


def register_protocol(protocol: WireProtocol, *, replace: bool = False) -> None:
    """Register a protocol under its name and aliases.

    Raises:
        ValueError: a name or alias is already taken by another protocol class (unless ``replace``).
    """
    for key in (protocol.name, *protocol.aliases):
        existing = _BY_NAME.get(key)
        if existing is not None and type(existing) is not type(protocol) and not replace:
            raise ValueError(f"Protocol name {key!r} is already registered by {type(existing).__name__}")
    for key in (protocol.name, *protocol.aliases):
        _BY_NAME[key] = protocol


def get_protocol(name: str) -> WireProtocol:
    """The protocol registered under ``name`` or one of its aliases.

    Raises:
        KeyError: no protocol has that name.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"Unknown protocol {name!r}; known: {', '.join(list_protocols())}") from None


def resolve_protocol_name(name: str) -> str:
    """The canonical name for ``name`` or an alias of it."""
    return get_protocol(name).name


def list_protocols() -> list[str]:
    """Canonical names of every registered protocol."""
    return sorted({p.name for p in _BY_NAME.values()})
