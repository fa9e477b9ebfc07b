"""Anthropic Messages (``/v1/messages``, ``/v1/messages/count_tokens``) in both roles."""

from __future__ import annotations

from typing import Any, ClassVar

from ...errors import GatewayError
from .. import model_lists
from ..base import NativeRequest, StreamFormatter, StreamParser, WireProtocol
from ..unified import Family, UnifiedRequest, UnifiedResponse
from . import build, formatter, requests, responses, streams


class AnthropicMessagesProtocol(WireProtocol):
    """Anthropic Messages: ``system`` plus alternating turns of content blocks in, one ``message`` out."""

    name: ClassVar[str] = "anthropic_messages"
    aliases: ClassVar[tuple[str, ...]] = ("anthropic", "messages", "claude_messages")
    family: ClassVar[Family] = "anthropic"
    default_auth: ClassVar[str] = "x-api-key"
    id_prefix: ClassVar[str] = "msg_"
    carries_state: ClassVar[Family | None] = "anthropic"

    def parse_request(
        self, body: dict[str, Any], *, model: str | None = None, operation: str = "generate", stream: bool = False
    ) -> UnifiedRequest:
        return requests.parse_request(body, model=model, operation=operation, stream=stream)

    def format_response(self, response: UnifiedResponse, request: UnifiedRequest) -> dict[str, Any]:
        return responses.format_response(response, request)

    def stream_formatter(self, request: UnifiedRequest, response_id: str) -> StreamFormatter:
        return formatter.AnthropicStreamFormatter(request, response_id)

    def format_error(self, error: GatewayError) -> dict[str, Any]:
        return responses.format_error(error)

    def format_count_tokens(self, input_tokens: int) -> dict[str, Any]:
        return {"input_tokens": input_tokens}

    def build_request(self, request: UnifiedRequest, model: str) -> NativeRequest:
        return build.build_request(request, model)

    def parse_response(self, body: dict[str, Any]) -> UnifiedResponse:
        return responses.parse_response(body)

    def stream_parser(self) -> StreamParser:
        return streams.AnthropicStreamParser(lambda body: self.upstream_error(0, body))

    def build_count_tokens(self, request: UnifiedRequest, model: str) -> NativeRequest | None:
        return build.build_count_tokens(request, model)

    def parse_count_tokens(self, body: dict[str, Any]) -> int:
        return responses.parse_count_tokens(body)

    def build_model_list(self, page_token: str | None = None) -> NativeRequest | None:
        return model_lists.anthropic_request(page_token, build.ANTHROPIC_VERSION)

    def parse_model_list(self, body: Any) -> tuple[list[str], str | None]:
        return model_lists.anthropic_page(body)
