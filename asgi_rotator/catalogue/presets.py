"""API-key provider presets: base URL, auth style, required headers and known quirks, as provider fields.

Each quirk is expressed with a built-in adapter, so a user can see it, and override it, in the same terms as
their own config. Sources: each provider's OpenAI-compatibility or API reference page (named in :data:`NOTES`).

How a preset meets a provider's own fields is :mod:`.merge`'s business.
"""

from __future__ import annotations

from typing import Any

_REASONING_FIELD = {"name": "reasoning_content"}  # copies a provider's `reasoning` into `reasoning_content`

#: API-key presets by name: the provider fields a user would otherwise write in YAML.
PRESETS: dict[str, dict[str, Any]] = {
    "openai": {"protocol": "openai_chat", "base_url": "https://api.openai.com/v1"},
    "anthropic": {"protocol": "anthropic_messages", "base_url": "https://api.anthropic.com"},
    "gemini": {"protocol": "gemini", "base_url": "https://generativelanguage.googleapis.com"},
    "openrouter": {
        "protocol": "openai_chat",
        "base_url": "https://openrouter.ai/api/v1",
        "adapters": [_REASONING_FIELD],
    },
    "deepseek": {
        "protocol": "openai_chat",
        "base_url": "https://api.deepseek.com",
        "adapters": [
            {"name": "drop_params", "config": {"params": ["logprobs", "top_logprobs"]}, "models": ["deepseek-reasoner"]}
        ],
    },
    "groq": {
        "protocol": "openai_chat",
        "base_url": "https://api.groq.com/openai/v1",
        "adapters": [
            {
                "name": "drop_params",
                "config": {"params": ["logprobs", "logit_bias", "top_logprobs", "messages[*].name"]},
            },
            _REASONING_FIELD,
        ],
    },
    "mistral": {
        "protocol": "openai_chat",
        "base_url": "https://api.mistral.ai/v1",
        "adapters": [
            {"name": "suppress_developer_role", "config": {"mode": "system"}},
            {
                "name": "field_rename",
                "config": {
                    "rules": [
                        {"source_path": "seed", "target_path": "random_seed", "stage": "request", "move": True},
                        {
                            "source_path": "max_completion_tokens",
                            "target_path": "max_tokens",
                            "stage": "request",
                            "move": True,
                        },
                    ]
                },
            },
            {
                "name": "drop_params",
                "config": {
                    "params": [
                        "stream_options",
                        "user",
                        "logit_bias",
                        "logprobs",
                        "top_logprobs",
                        "store",
                        "metadata",
                        "service_tier",
                        "prompt_cache_key",
                    ]
                },
            },
        ],
    },
    "xai": {"protocol": "openai_chat", "base_url": "https://api.x.ai/v1"},
    "nvidia": {"protocol": "openai_chat", "base_url": "https://integrate.api.nvidia.com/v1"},
    "cohere": {
        "protocol": "openai_chat",
        "base_url": "https://api.cohere.ai/compatibility/v1",
        "adapters": [
            {
                "name": "drop_params",
                "config": {"params": ["store", "metadata", "logit_bias", "top_logprobs", "service_tier", "user"]},
            }
        ],
    },
    "chutes": {"protocol": "openai_chat", "base_url": "https://llm.chutes.ai/v1"},
    "fireworks": {"protocol": "openai_chat", "base_url": "https://api.fireworks.ai/inference/v1"},
    "together": {"protocol": "openai_chat", "base_url": "https://api.together.xyz/v1", "adapters": [_REASONING_FIELD]},
    "cerebras": {
        "protocol": "openai_chat",
        "base_url": "https://api.cerebras.ai/v1",
        "adapters": [
            {"name": "suppress_developer_role", "config": {"mode": "system"}},
            {
                "name": "drop_params",
                "config": {
                    "params": [
                        "frequency_penalty",
                        "presence_penalty",
                        "logit_bias",
                        "parallel_tool_calls",
                        "service_tier",
                    ]
                },
            },
            _REASONING_FIELD,
        ],
    },
    "perplexity": {"protocol": "openai_chat", "base_url": "https://api.perplexity.ai", "discover": False},
    "moonshot": {"protocol": "openai_chat", "base_url": "https://api.moonshot.ai/v1"},
    "zai": {"protocol": "openai_chat", "base_url": "https://api.z.ai/api/paas/v4"},
    "dashscope": {"protocol": "openai_chat", "base_url": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"},
    "ollama": {
        "protocol": "openai_chat",
        "base_url": "http://localhost:11434/v1",
        "auth": "none",
        "adapters": [_REASONING_FIELD],
    },
    "lmstudio": {
        "protocol": "openai_chat",
        "base_url": "http://localhost:1234/v1",
        "auth": "none",
        "adapters": [_REASONING_FIELD],
    },
    "vllm": {
        "protocol": "openai_chat",
        "base_url": "http://localhost:8000/v1",
        "auth": "none",
        "adapters": [_REASONING_FIELD],
    },
    "azure": {
        "protocol": "openai_chat",
        "base_url": "https://{resource}.openai.azure.com/openai/deployments/{model}",
        "auth": "custom",
        "auth_header": "api-key",
        "query": {"api-version": "2024-10-21"},
    },
}

#: What each preset's quirks are for, and where they come from (the generated docs table shows these).
NOTES: dict[str, str] = {
    "openai": "The reference API.",
    "anthropic": "`anthropic-version` and a default `max_tokens` come from the protocol.",
    "gemini": "Key in `x-goog-api-key`, never `?key=`.",
    "openrouter": "Reasoning arrives as `reasoning`; copied to `reasoning_content`.",
    "deepseek": "`deepseek-reasoner` answers with `reasoning_content` and rejects `logprobs`/`top_logprobs` "
    "(DeepSeek reasoning-model guide).",
    "groq": "400 on `logprobs`, `logit_bias`, `top_logprobs`, `messages[].name` (Groq OpenAI-compatibility page); "
    "reasoning as `reasoning`.",
    "mistral": "Strict validation (422 on unknown fields): no `developer` role, `random_seed` instead of `seed`, "
    "no `stream_options`, `user`, `logit_bias`, `logprobs`, `store`, `metadata`.",
    "xai": "Reasoning models answer with `reasoning_content`; some reject penalties, `stop` and `reasoning_effort` "
    "(add a `drop_params` adapter for the models you use).",
    "nvidia": "NVIDIA NIM API catalog.",
    "cohere": "Compatibility API; unsupported OpenAI fields dropped.",
    "chutes": "OpenAI-compatible endpoint.",
    "fireworks": "OpenAI-compatible endpoint; model ids look like `accounts/fireworks/models/...` (keep the `/`).",
    "together": "Reasoning as `reasoning` on some models; copied to `reasoning_content`.",
    "cerebras": "No `developer` role; 400 on penalties, `logit_bias`, `parallel_tool_calls`, `service_tier` "
    "(Cerebras OpenAI-compatibility page); reasoning as `reasoning`.",
    "perplexity": "Base URL without `/v1`; it has no model-list endpoint.",
    "moonshot": "Kimi; thinking models answer with `reasoning_content`.",
    "zai": "GLM; thinking models answer with `reasoning_content`.",
    "dashscope": "Alibaba Model Studio, international endpoint (China: `dashscope.aliyuncs.com`).",
    "ollama": "Local, keyless; reasoning as `reasoning`.",
    "lmstudio": "Local, keyless; a `reasoning` field is copied to `reasoning_content`.",
    "vllm": "Local, keyless (give it a credential when the server runs with `--api-key`); a `reasoning` field is "
    "copied to `reasoning_content`.",
    "azure": "Replace `{resource}` (or set `AZURE_API_BASE`); `{model}` is the deployment name.",
}
