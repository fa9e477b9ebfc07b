"""OpenAI Responses (``/v1/responses``) in both roles, stateless: stored responses live in ``responses_api``."""

from __future__ import annotations

from typing import Any, ClassVar

from ...errors import GatewayError
from .. import model_lists
from ..base import NativeRequest, StreamFormatter, StreamParser, WireProtocol
from ..unified import Family, UnifiedRequest, UnifiedResponse
from . import build, formatter, requests, responses, streams


class OpenAIResponsesProtocol(WireProtocol):
    """OpenAI Responses: ``input`` items in, ``output`` items out, typed SSE events with sequence numbers."""

    name: ClassVar[str] = "openai_responses"
    aliases: ClassVar[tuple[str, ...]] = ("responses", "response_api")
    family: ClassVar[Family] = "openai"
    default_auth: ClassVar[str] = "bearer"
    id_prefix: ClassVar[str] = "resp_"
    carries_state: ClassVar[Family | None] = "openai"
    stores_responses: ClassVar[bool] = True

    def parse_request(
        self, body: dict[str, Any], *, model: str | None = None, operation: str = "generate", stream: bool = False
    ) -> UnifiedRequest:
        return requests.parse_request(body, model=model, stream=stream)

    def format_response(self, response: UnifiedResponse, request: UnifiedRequest) -> dict[str, Any]:
        return responses.format_response(response, request)

    def stream_formatter(self, request: UnifiedRequest, response_id: str) -> StreamFormatter:
        return formatter.ResponsesStreamFormatter(request, response_id)

    def format_error(self, error: GatewayError) -> dict[str, Any]:
        return responses.format_error(error)

    def build_request(self, request: UnifiedRequest, model: str) -> NativeRequest:
        return build.build_request(request, model)

    def parse_response(self, body: dict[str, Any]) -> UnifiedResponse:
        return responses.parse_response(body)

    def stream_parser(self) -> StreamParser:
        return streams.ResponsesStreamParser(lambda body: self.upstream_error(0, body))

    def build_model_list(self, page_token: str | None = None) -> NativeRequest | None:
        return model_lists.openai_request(page_token)

    def parse_model_list(self, body: Any) -> tuple[list[str], str | None]:
        return model_lists.openai_page(body)
