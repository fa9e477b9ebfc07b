"""Subscription presets: providers whose credentials are OAuth logins of a paid (or free) plan, not API keys.

Each preset is a dict of provider fields, exactly what a user writes under ``providers.<name>`` in YAML;
``preset: NAME`` merges it under the provider's own fields, so any of them (``base_url``, ``token_url``,
``headers``...) can be overridden. Credentials are ``{oauth_file: PATH}`` entries (Copilot: GitHub tokens,
as keys or files). The wire details and their sources are in docs/subscriptions/.

Service status (2026): iFlow's CLI service shut down on 2026-04-17; Qwen's free OAuth tier ended on
2026-04-15; Gemini Code Assist "Login with Google" for individuals ended on 2026-06-18 (Standard/Enterprise
projects remain); Anthropic's terms do not allow Claude Pro/Max logins to serve third parties.
"""

from __future__ import annotations

from typing import Any

_CLAUDE_CODE: dict[str, Any] = {
    "protocol": "anthropic_messages",
    "base_url": "https://api.anthropic.com",
    "auth": "anthropic_oauth",
    "headers": {
        "anthropic-beta": "oauth-2025-04-20,interleaved-thinking-2025-05-14",
        "user-agent": "claude-cli/2.1.2 (external, cli)",
        "x-app": "cli",
    },
    "adapters": ["claude_code"],
    "token_url": "https://platform.claude.com/v1/oauth/token",
    "token_body": "json",
    "client_id": "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
    "models": ["claude-opus-4-6", "claude-sonnet-4-6", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"],
}

_CODEX: dict[str, Any] = {
    "protocol": "openai_responses",
    "base_url": "https://chatgpt.com/backend-api/codex",
    "auth": "bearer",
    "headers": {"originator": "codex_cli_rs", "user-agent": "codex_cli_rs/0.101.0 (Linux; x86_64)"},
    "adapters": ["codex"],
    "token_url": "https://auth.openai.com/oauth/token",
    "token_body": "form",
    "token_scope": "openid profile email",
    "client_id": "app_EMoamEEZ73f0CkXaXp7hrann",
    "models": ["gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.3-codex", "gpt-5.3-codex-spark", "gpt-5.2"],
}

_COPILOT: dict[str, Any] = {
    "protocol": "openai_chat",
    "base_url": "https://api.githubcopilot.com",
    "auth": "bearer",
    "token_flow": "copilot_exchange",
    "token_url": "https://api.github.com/copilot_internal/v2/token",
    "credential_base_url": True,
    "headers": {
        "copilot-integration-id": "vscode-chat",
        "editor-version": "vscode/1.107.0",
        "editor-plugin-version": "copilot-chat/0.35.0",
        "user-agent": "GitHubCopilotChat/0.35.0",
        "openai-intent": "conversation-edits",
        "x-github-api-version": "2025-04-01",
    },
    "adapters": [{"name": "suppress_developer_role", "config": {"mode": "system"}}, "copilot"],
}

_GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"

_GEMINI_CLI: dict[str, Any] = {
    "protocol": "gemini",
    "base_url": "https://cloudcode-pa.googleapis.com",
    "auth": "bearer",
    "headers": {
        "user-agent": "GeminiCLI/0.8.0 (linux; x64; terminal)",
        "x-goog-api-client": "google-genai-sdk/1.41.0 gl-node/v22.19.0",
    },
    "adapters": [{"name": "code_assist", "config": {"flavor": "gemini_cli"}}],
    "project_discovery": "gemini_cli",
    "token_url": _GOOGLE_TOKEN_URL,
    "client_id": "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
    # Google's "installed app" secret: public by design, shipped in the Gemini CLI's source.
    "client_secret": "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",
    "models": ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-3-pro-preview"],
}

_ANTIGRAVITY: dict[str, Any] = {
    "protocol": "gemini",
    "base_url": "https://daily-cloudcode-pa.googleapis.com",
    "auth": "bearer",
    "headers": {"user-agent": "antigravity/hub/2.9.1 darwin/arm64"},
    "adapters": [{"name": "code_assist", "config": {"flavor": "antigravity"}}],
    "project_discovery": "antigravity",
    "token_url": _GOOGLE_TOKEN_URL,
    "client_id": "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com",
    "client_secret": "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",
    "models": ["gemini-3-pro-high", "gemini-3-pro-low", "gemini-3-flash", "claude-sonnet-4-6"],
}

_QWEN_UA = "QwenCode/0.0.14 (linux; x64)"
_QWEN_CODE: dict[str, Any] = {
    "protocol": "openai_chat",
    "base_url": "https://portal.qwen.ai/v1",
    "auth": "bearer",
    "credential_base_url": True,
    "headers": {
        "user-agent": _QWEN_UA,
        "x-dashscope-useragent": _QWEN_UA,
        "x-dashscope-cachecontrol": "enable",
        "x-dashscope-authtype": "qwen-oauth",
    },
    "token_url": "https://chat.qwen.ai/api/v1/oauth2/token",
    "client_id": "f0304373b74a44d2b584a3fb70ca9e56",
    "models": ["coder-model", "vision-model", "qwen3-coder-plus", "qwen3-coder-flash"],
}

_IFLOW: dict[str, Any] = {
    "protocol": "openai_chat",
    "base_url": "https://apis.iflow.cn/v1",
    "auth": "iflow",
    "headers": {"user-agent": "iFlow-Cli"},
    "token_flow": "iflow",
    "token_url": "https://iflow.cn/oauth/token",
    "token_auth": "basic",
    "client_id": "10009311001",
    "client_secret": "4Z3YjXycVsQvyGF1etiNlIBB4RsqSDtW",
    "models": ["qwen3-coder-plus", "kimi-k2", "glm-4.6", "deepseek-v3.2"],
}

#: The subscription presets by name.
SUBSCRIPTION_PRESETS: dict[str, dict[str, Any]] = {
    "claude_code": _CLAUDE_CODE,
    "codex": _CODEX,
    "copilot": _COPILOT,
    "gemini_cli": _GEMINI_CLI,
    "antigravity": _ANTIGRAVITY,
    "qwen_code": _QWEN_CODE,
    "iflow": _IFLOW,
}
