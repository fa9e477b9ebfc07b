from __future__ import annotations

import openai

from .conftest import PROXY_KEY, openai_provider


def test_chat_roundtrip(gateway, fake):
    base = gateway({"providers": {"fake": openai_provider("sk-a")}})
    client = openai.OpenAI(base_url=base + "/v1", api_key=PROXY_KEY)
    reply = client.chat.completions.create(model="fake/gpt-x", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from the fake upstream."
    stream = client.chat.completions.create(model="fake/gpt-x", messages=[{"role": "user", "content": "hi"}],
                                            stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello from the fake upstream."
