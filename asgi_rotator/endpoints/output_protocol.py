"""The output protocol: the shape an answer takes when it is not the client's own (the seed's rule).

Precedence: the request's ``X-Proxy-Output-Protocol`` header (a protocol name or alias; an unknown value is a
400; the header is a client header, so it is never forwarded upstream) > the first target provider's
``default_output_protocol`` > the protocol the client spoke. The answer's body, its stream events and its
errors all take that protocol's shape.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import invalid_request
from ..planner import Plan
from ..protocols.base import WireProtocol
from ..protocols.registry import ProtocolRegistry

OUTPUT_HEADER = "x-proxy-output-protocol"


def requested_output(protocols: ProtocolRegistry, headers: Mapping[str, str]) -> WireProtocol | None:
    """The protocol the request's header asks for, or None without the header.

    Raises:
        GatewayError: 400 for a value that names no protocol.
    """
    value = headers.get(OUTPUT_HEADER)
    if value is None:
        return None
    name = value.strip().lower().replace("-", "_")
    if name not in protocols:
        known = ", ".join(protocols.names())
        raise invalid_request(
            f"X-Proxy-Output-Protocol: unknown protocol {value!r}; known: {known}.", param=OUTPUT_HEADER
        )
    return protocols.get(name)


def provider_default(protocols: ProtocolRegistry, plan: Plan) -> WireProtocol | None:
    """The first target provider's ``default_output_protocol``, if it has one (checked at construction)."""
    name = plan.targets[0].config.default_output_protocol if plan.targets else None
    return protocols.get(name) if name is not None else None
