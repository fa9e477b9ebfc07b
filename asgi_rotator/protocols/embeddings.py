"""Embeddings: the OpenAI and Gemini wire shapes, as a client speaks them and as a provider takes them. Pure.

One canonical request (:class:`EmbeddingRequest`) and answer (:class:`EmbeddingResponse`) sit between them.
OpenAI-family providers (and LiteLLM, which answers in OpenAI's shape) take ``POST {base}/embeddings``; Gemini
providers take ``batchEmbedContents``, one entry per input. ``encoding_format`` is honoured whatever the
provider answered: base64 is the little-endian float32 array, as the OpenAI API encodes it.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import GatewayError, invalid_request
from ._common import upstream_invalid
from .base import NativeRequest, WireProtocol
from .gemini.build import model_path
from .unified import Usage

EncodingFormat = Literal["float", "base64"]
#: One input: a text, or a token array (OpenAI only).
EmbeddingInput = str | list[int]
#: One vector as it came: floats, or the base64 of little-endian float32s.
Vector = list[float] | str


@dataclass(slots=True)
class EmbeddingRequest:
    """An embeddings request, independent of the wire shape it came in."""

    model: str
    inputs: list[EmbeddingInput]
    encoding_format: EncodingFormat = "float"
    dimensions: int | None = None
    #: Gemini ``taskType`` and ``title``; dropped for providers that have neither.
    task_type: str | None = None
    title: str | None = None
    #: The client's OpenAI body, replayed to OpenAI-family providers with its unknown fields.
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class EmbeddingResponse:
    """Vectors in input order, as the provider sent them, and the provider's usage (None when it reports none)."""

    vectors: list[Vector]
    usage: Usage | None = None


def encode_vector(vector: Vector, encoding: EncodingFormat) -> Vector:
    """``vector`` in ``encoding``: floats, or base64 of little-endian float32s."""
    if encoding == "base64":
        if isinstance(vector, str):
            return vector
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    if isinstance(vector, str):
        raw = base64.b64decode(vector)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return vector


# -- OpenAI shape ------------------------------------------------------------------------------------------


def parse_openai_request(body: dict[str, Any]) -> EmbeddingRequest:
    """A client's OpenAI ``/v1/embeddings`` body.

    Raises:
        GatewayError: 400 naming the field, for a missing model or input or a wrong type.
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid_request("'model' is required and must be a string.", param="model")
    encoding: EncodingFormat = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise invalid_request("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1):
        raise invalid_request("'dimensions' must be a positive integer.", param="dimensions")
    return EmbeddingRequest(model, _openai_inputs(body.get("input")), encoding, dimensions, raw=body)


def _openai_inputs(value: Any) -> list[EmbeddingInput]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(item, str) for item in value):
            return list(value)
        if all(_is_int(item) for item in value):
            return [list(value)]
        if all(isinstance(item, list) and item and all(_is_int(t) for t in item) for item in value):
            return [list(item) for item in value]
    raise invalid_request(
        "'input' must be a string, a list of strings, a token array or a list of token arrays.", param="input"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def format_openai_response(response: EmbeddingResponse, request: EmbeddingRequest) -> dict[str, Any]:
    """The OpenAI answer for ``request`` (its model as the client addressed it, its ``encoding_format``)."""
    usage = response.usage or Usage()
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode_vector(v, request.encoding_format)}
            for i, v in enumerate(response.vectors)
        ],
        "model": request.model,
        "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens},
    }


def build_openai_body(request: EmbeddingRequest, model: str) -> dict[str, Any]:
    """The body for an OpenAI-family provider: the client's own body when it spoke OpenAI, with the upstream
    model; the encoding the client asked for (the answer is normalised either way)."""
    body = dict(request.raw) if request.raw else {}
    body.update(model=model, input=request.inputs, encoding_format=request.encoding_format)
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    return body


def parse_openai_response(body: dict[str, Any], protocol: str) -> EmbeddingResponse:
    """An OpenAI-family answer: ``data`` in index order; vectors as floats or base64 strings."""
    data = body.get("data")
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise upstream_invalid(protocol, "the embeddings answer has no 'data' list")
    ordered = sorted(data, key=lambda d: d.get("index", 0))
    vectors: list[Vector] = []
    for item in ordered:
        vector = item.get("embedding")
        if not isinstance(vector, list | str):
            raise upstream_invalid(protocol, "an embedding is neither a list of floats nor base64")
        vectors.append(vector)
    raw_usage = body.get("usage")
    usage = None
    if isinstance(raw_usage, dict):
        tokens = raw_usage.get("prompt_tokens") or raw_usage.get("total_tokens") or 0
        cost = raw_usage.get("cost")
        usage = Usage(
            input_tokens=int(tokens) if _is_int(tokens) else 0,
            provider_cost_usd=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
        )
    return EmbeddingResponse(vectors, usage)


# -- Gemini shape ------------------------------------------------------------------------------------------


def parse_gemini_request(body: dict[str, Any], model: str, *, batch: bool) -> EmbeddingRequest:
    """A client's Gemini ``embedContent`` or ``batchEmbedContents`` body (Gemini answers carry floats)."""
    entries = body.get("requests") if batch else [body]
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise invalid_request("'requests' must be a non-empty list of embedContent requests.", param="requests")
    inputs: list[EmbeddingInput] = [_gemini_text(entry) for entry in entries]
    first = entries[0]
    dimensions = first.get("outputDimensionality")
    if dimensions is not None and (not _is_int(dimensions) or dimensions < 1):
        raise invalid_request("'outputDimensionality' must be a positive integer.", param="outputDimensionality")
    return EmbeddingRequest(
        model, inputs, "float", dimensions, task_type=first.get("taskType"), title=first.get("title")
    )


def _gemini_text(entry: dict[str, Any]) -> str:
    content = entry.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not parts:
        raise invalid_request("'content.parts' must be a non-empty list.", param="content")
    texts = [part.get("text") for part in parts if isinstance(part, dict)]
    if not texts or not all(isinstance(t, str) for t in texts):
        raise invalid_request("Embeddings take text parts only.", param="content.parts")
    return "".join(texts)  # type: ignore[arg-type]


def format_gemini_response(response: EmbeddingResponse, *, batch: bool) -> dict[str, Any]:
    """The Gemini answer: ``{"embedding": {...}}`` or, for a batch, ``{"embeddings": [...]}``."""
    values = [{"values": encode_vector(v, "float")} for v in response.vectors]
    return {"embeddings": values} if batch else {"embedding": values[0]}


def build_gemini_request(request: EmbeddingRequest, model: str) -> tuple[str, dict[str, Any]]:
    """``(path, body)`` of the ``batchEmbedContents`` call for ``request``.

    Raises:
        GatewayError: 400 for token-array inputs, which Gemini cannot embed.
    """
    name = f"models/{model.removeprefix('models/')}"
    entries = []
    for text in request.inputs:
        if not isinstance(text, str):
            raise invalid_request("Gemini embeds text only; token-array inputs cannot be sent to it.", param="input")
        entry: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
        if request.task_type is not None:
            entry["taskType"] = request.task_type
        if request.title is not None:
            entry["title"] = request.title
        if request.dimensions is not None:
            entry["outputDimensionality"] = request.dimensions
        entries.append(entry)
    return model_path(model, "batchEmbedContents"), {"requests": entries}


def parse_gemini_response(body: dict[str, Any], protocol: str) -> EmbeddingResponse:
    """A ``batchEmbedContents`` answer (it reports no usage)."""
    embeddings = body.get("embeddings")
    if not isinstance(embeddings, list):
        raise upstream_invalid(protocol, "the answer has no 'embeddings' list")
    vectors: list[Vector] = []
    for item in embeddings:
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list):
            raise upstream_invalid(protocol, "an embedding has no 'values' list")
        vectors.append(values)
    return EmbeddingResponse(vectors)


def build_provider_request(request: EmbeddingRequest, protocol: WireProtocol, model: str) -> NativeRequest:
    """The native embeddings request for a provider of ``protocol``.

    Raises:
        GatewayError: 400 when the provider's family has no embeddings (Anthropic), or cannot take the input.
    """
    if protocol.family == "gemini":
        path, body = build_gemini_request(request, model)
        return NativeRequest(path, body)
    if protocol.family == "openai":
        return NativeRequest("/embeddings", build_openai_body(request, model))
    raise GatewayError(
        "invalid_request",
        f"Model {model!r} is served by a {protocol.name} provider, which has no embeddings.",
        param="model",
    )


def parse_provider_response(
    body: dict[str, Any], protocol: WireProtocol, request: EmbeddingRequest
) -> EmbeddingResponse:
    """A provider's embeddings answer; without reported usage, the input tokens are estimated (about four
    characters a token) so the request still counts toward usage and cost."""
    if protocol.family == "gemini":
        response = parse_gemini_response(body, protocol.name)
    else:
        response = parse_openai_response(body, protocol.name)
    if len(response.vectors) != len(request.inputs):
        raise upstream_invalid(protocol.name, f"{len(response.vectors)} embeddings for {len(request.inputs)} inputs")
    if response.usage is None:
        tokens = sum(-(-len(text) // 4) if isinstance(text, str) else len(text) for text in request.inputs)
        response.usage = Usage(input_tokens=tokens)
    return response
