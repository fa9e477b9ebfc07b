"""The four official SDKs calling a gateway with a system (or developer) instruction and one user turn."""

from __future__ import annotations

import anthropic
import openai
from google import genai
from google.genai import types as gtypes

from ..conftest import PROXY_KEY

SYSTEM = "Answer briefly."
PROMPT = "Say hello."


def openai_chat(base: str, model: str, stream: bool) -> str:
    messages = [{"role": "developer", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        if stream:
            with client.chat.completions.stream(model=model, messages=messages) as s:  # type: ignore[arg-type]
                return s.get_final_completion().choices[0].message.content or ""
        completion = client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
        return completion.choices[0].message.content or ""


def openai_responses(base: str, model: str, stream: bool) -> str:
    with openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY, max_retries=0) as client:
        if stream:
            with client.responses.stream(model=model, instructions=SYSTEM, input=PROMPT, max_output_tokens=64) as s:
                return s.get_final_response().output_text
        return client.responses.create(model=model, instructions=SYSTEM, input=PROMPT, max_output_tokens=64).output_text


def anthropic_messages(base: str, model: str, stream: bool) -> str:
    request = {"model": model, "max_tokens": 256, "system": SYSTEM, "messages": [{"role": "user", "content": PROMPT}]}
    with anthropic.Anthropic(base_url=base, api_key=PROXY_KEY, max_retries=0) as client:
        if stream:
            with client.messages.stream(**request) as s:  # type: ignore[arg-type]
                message = s.get_final_message()
        else:
            message = client.messages.create(**request)  # type: ignore[arg-type]
    return "".join(b.text for b in message.content if b.type == "text")


def gemini(base: str, model: str, stream: bool) -> str:
    client = genai.Client(api_key=PROXY_KEY, http_options=gtypes.HttpOptions(base_url=base, api_version="v1beta"))
    config = gtypes.GenerateContentConfig(system_instruction=SYSTEM, temperature=0.2)
    try:
        if stream:
            chunks = list(client.models.generate_content_stream(model=model, contents=PROMPT, config=config))
        else:
            chunks = [client.models.generate_content(model=model, contents=PROMPT, config=config)]
    finally:
        client.close()
    return "".join(chunk.text or "" for chunk in chunks)


CLIENTS = {
    "openai_chat": openai_chat,
    "openai_responses": openai_responses,
    "anthropic": anthropic_messages,
    "gemini": gemini,
}
