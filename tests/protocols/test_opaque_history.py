"""History the gateway does not model rides opaquely: back verbatim, in place, to a provider of the protocol
that sent it; dropped with a warning (never a crash, never a silent loss) for any other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asgi_rotator.protocols import get_protocol

CLIENTS = Path(__file__).resolve().parents[1] / "fixtures" / "clients"


def recorded(name: str) -> dict:
    """The last request body of a recorded client scenario."""
    return json.loads((CLIENTS / f"{name}.json").read_text())["exchanges"][-1]["body"]


@pytest.mark.parametrize("target", ["openai_chat", "openai_responses", "gemini"])
def test_claude_code_server_tool_history_is_dropped_with_a_warning_elsewhere(target: str) -> None:
    request = get_protocol("anthropic_messages").parse_request(recorded("claude-code/server_tool_replay"))
    native = get_protocol(target).build_request(request, "m")
    text = json.dumps(native.body)
    assert "server_tool_use" not in text and "web_search_tool_result" not in text
    dropped = [w for w in request.warnings if w.code == "dropped_history"]
    assert {w.message.split("'")[1] for w in dropped} == {"server_tool_use", "web_search_tool_result"}
    assert "echo hi" in text  # the modelled tool call around them survives


@pytest.mark.parametrize("target", ["openai_chat", "anthropic_messages", "gemini"])
def test_codex_hosted_tool_history_is_dropped_with_a_warning_elsewhere(target: str) -> None:
    # (Codex's custom tool calls are translated, not dropped: see tests/test_codex_translation.py.)
    request = get_protocol("openai_responses").parse_request(recorded("codex/classic_web_search"))
    native = get_protocol(target).build_request(request, "m")
    assert "web_search_call" not in json.dumps(native.body)
    kinds = {w.message.split("'")[1] for w in request.warnings if w.code == "dropped_history"}
    assert "web_search_call" in kinds


def test_gemini_code_execution_parts_go_back_to_gemini_and_nowhere_else() -> None:
    code = {"executableCode": {"language": "PYTHON", "code": "print(1)"}}
    result = {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\\n"}}
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "run it"}]},
            {"role": "model", "parts": [code, result, {"text": "It printed 1."}]},
            {"role": "user", "parts": [{"text": "thanks"}]},
        ]
    }
    request = get_protocol("gemini").parse_request(body, model="gemini-2.5-pro")
    native = get_protocol("gemini").build_request(request, "gemini-2.5-pro")
    assert native.body["contents"][1]["parts"][:2] == [code, result]
    chat = get_protocol("openai_chat").build_request(request, "m")
    assert "executableCode" not in json.dumps(chat.body) and "It printed 1." in json.dumps(chat.body)
    dropped = {w.message.split("'")[1] for w in request.warnings if w.code == "dropped_history"}
    assert dropped == {"executableCode", "codeExecutionResult"}
