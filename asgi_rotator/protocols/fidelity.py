"""What a translation may lose, and how the client hears of it.

Two kinds of loss (docs/fidelity.md):

- A field whose loss changes the answer's meaning (``n`` > 1, ``logprobs``, audio output, ``background``, a
  hosted tool the client forces) is recorded by the client protocol's parser in
  :attr:`UnifiedRequest.source_only`. Only a provider of the client's own protocol honours it; a target of
  any other protocol is skipped, and with none left the request is a 400 naming the field (``param``).
- Optional tuning the target lacks (``top_k`` for the Responses API, ``seed`` for Anthropic, an offered hosted
  tool, hosted-tool history ...) is dropped: a :class:`ConversionWarning` goes to the trace and to the
  ``x-rotator-warnings`` response header.
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import _json
from ..errors import GatewayError, invalid_request
from .base import WireProtocol
from .unified import ConversionWarning, UnifiedRequest

WARNINGS_HEADER = "x-rotator-warnings"
#: The warning code of an offered hosted tool (dropped only on the way to another protocol).
HOSTED_TOOL = "hosted_tool"
#: The header carries at most this many warnings (the trace has them all).
_MAX_HEADER_WARNINGS = 20


def source_only(request: UnifiedRequest, field: str, message: str) -> None:
    """Record that ``field`` changes the answer's meaning: only the client's own protocol may serve it."""
    request.source_only.append(ConversionWarning("source_only", message, field, request.source_protocol))


def dropped_tool(request: UnifiedRequest, field: str, message: str) -> None:
    """Record a hosted tool the client offers (not forces): another protocol's model answers without it."""
    request.warnings.append(ConversionWarning(HOSTED_TOOL, message, field, request.source_protocol))


def lost_meaning(request: UnifiedRequest, target: WireProtocol) -> ConversionWarning | None:
    """The first field whose loss would change the answer if a provider of ``target`` served ``request``."""
    if not request.source_only or target.name == request.source_protocol:
        return None
    return request.source_only[0]


def refusal(loss: ConversionWarning, targets: Iterable[WireProtocol]) -> GatewayError:
    """The 400 for a request no target can honour: it names the field and where it could be served."""
    protocols = ", ".join(sorted({t.name for t in targets}))
    message = (
        f"{loss.message} Field '{loss.field}' cannot be translated to {protocols}; send it to a model whose "
        f"provider speaks {loss.source_protocol}, or leave it out."
    )
    return invalid_request(message, param=loss.field)


def applicable(request: UnifiedRequest, served: WireProtocol | None) -> list[ConversionWarning]:
    """The request's warnings that hold for the protocol that served it, without repeats (each attempt's build
    warns again), in first-seen order.

    An offered hosted tool is replayed verbatim to a provider of the client's own protocol, so its warning does
    not hold when that protocol served the request.
    """
    same = served is not None and served.name == request.source_protocol
    seen: dict[tuple[str, str | None, str], ConversionWarning] = {}
    for warning in request.warnings:
        if warning.code == HOSTED_TOOL and same:
            continue
        seen.setdefault((warning.code, warning.field, warning.message), warning)
    return list(seen.values())


def warnings_header(warnings: list[ConversionWarning]) -> tuple[str, str] | None:
    """The ``x-rotator-warnings`` header: a JSON list of ``{code, field, message}``, ASCII only."""
    if not warnings:
        return None
    listed = [{"code": w.code, "field": w.field, "message": w.message} for w in warnings[:_MAX_HEADER_WARNINGS]]
    return WARNINGS_HEADER, _json.dumps_str(listed).encode("ascii", "backslashreplace").decode("ascii")
