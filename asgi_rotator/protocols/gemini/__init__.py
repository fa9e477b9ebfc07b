"""Google Gemini ``generateContent`` (``/v1beta/models/{model}:generateContent``) in both roles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ...errors import GatewayError, UpstreamError
from .. import model_lists
from ..base import NativeRequest, StreamFormatter, StreamParser, WireProtocol
from ..unified import Family, UnifiedRequest, UnifiedResponse
from . import build, requests, responses, streams


class GeminiProtocol(WireProtocol):
    """Gemini: ``contents`` in, ``candidates`` out, SSE chunks that are each a whole response."""

    name: ClassVar[str] = "gemini"
    aliases: ClassVar[tuple[str, ...]] = ("google_gemini", "generate_content")
    family: ClassVar[Family] = "gemini"
    default_auth: ClassVar[str] = "x-goog-api-key"
    id_prefix: ClassVar[str] = "resp_"
    carries_state: ClassVar[Family | None] = "gemini"
    sse_line_end: ClassVar[bytes] = b"\r\n"

    def parse_request(
        self, body: dict[str, Any], *, model: str | None = None, operation: str = "generate", stream: bool = False
    ) -> UnifiedRequest:
        return requests.parse_request(body, model=model, operation=operation, stream=stream)

    def format_response(self, response: UnifiedResponse, request: UnifiedRequest) -> dict[str, Any]:
        return responses.format_response(response, request)

    def stream_formatter(self, request: UnifiedRequest, response_id: str) -> StreamFormatter:
        return streams.GeminiStreamFormatter(request, response_id)

    def format_error(self, error: GatewayError) -> dict[str, Any]:
        return responses.format_error(error)

    def format_count_tokens(self, input_tokens: int) -> dict[str, Any]:
        return {"totalTokens": input_tokens}

    def build_request(self, request: UnifiedRequest, model: str) -> NativeRequest:
        return build.build_request(request, model)

    def parse_response(self, body: dict[str, Any]) -> UnifiedResponse:
        return responses.parse_response(body)

    def stream_parser(self) -> StreamParser:
        return streams.GeminiStreamParser(lambda body: self.upstream_error(0, body))

    def build_count_tokens(self, request: UnifiedRequest, model: str) -> NativeRequest | None:
        return build.build_count_tokens(request, model)

    def parse_count_tokens(self, body: dict[str, Any]) -> int:
        return responses.parse_count_tokens(body)

    def upstream_error(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> UpstreamError:
        # Errors of the array-framed stream come as [{"error": {...}}].
        if isinstance(body, list) and body and isinstance(body[0], dict):
            body = body[0]
        return super().upstream_error(status, body, headers)

    def build_model_list(self, page_token: str | None = None) -> NativeRequest | None:
        return model_lists.gemini_request(page_token)

    def parse_model_list(self, body: Any) -> tuple[list[str], str | None]:
        return model_lists.gemini_page(body)
