"""The configuration schema: pydantic models validated once, at construction.

Secrets (provider credentials, client keys) are :class:`pydantic.SecretStr`, so no ``repr``, log line or
validation error ever shows them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from .._version import __version__ as _VERSION
from ..catalogue import apply_preset
from .observability import LoggingConfig, OtelConfig, RecentRequestsConfig


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pricing(_Model):
    """USD per million tokens. A missing cache price falls back to ``input``, ``reasoning`` to ``output``."""

    input: float | None = Field(None, description="USD per million uncached input tokens.")
    output: float | None = Field(None, description="USD per million output tokens (reasoning included).")
    cache_read: float | None = Field(
        None, description="USD per million cache-read tokens; defaults to the input price."
    )
    cache_write: float | None = Field(
        None, description="USD per million cache-write tokens; defaults to the input price."
    )
    reasoning: float | None = Field(None, description="USD per million reasoning tokens; defaults to the output price.")


class ModelOptions(_Model):
    """Per-model options of a provider."""

    pricing: Pricing | None = Field(None, description="Prices for cost accounting.")
    #: Credentials of a lower tier (higher number) may not serve this model.
    min_tier: int | None = Field(
        None, description="Only credentials with priority at or below this number serve the model."
    )


def _stripped(value: SecretStr) -> SecretStr:
    """A key as read from a secret file often ends in a newline; it never belongs to the key."""
    text = value.get_secret_value()
    if not text.strip():
        raise ValueError("must not be empty")
    return SecretStr(text.strip()) if text != text.strip() else value


Secret = Annotated[SecretStr, AfterValidator(_stripped)]


def _key_strings(value: Any) -> Any:
    """Let a bare string stand for ``{key: <string>}`` in credential and client-key lists."""
    if isinstance(value, list):
        return [{"key": item} if isinstance(item, str) else item for item in value]
    return value


class CredentialConfig(_Model):
    """One provider credential and its known limits (what the provider allows it).

    A credential is either an API ``key`` or an ``oauth_file``: a JSON file of OAuth tokens the gateway
    refreshes and writes back (see docs/subscriptions/).
    """

    key: Secret | None = Field(None, description="The API key (a secret); surrounding whitespace is dropped.")
    oauth_file: str | None = Field(
        None, description="Path of an OAuth credential file (access and refresh token); instead of key."
    )
    priority: int = Field(1, ge=1, description="Tier: 1 is tried first.")
    max_concurrency: int | None = Field(None, ge=1, description="Hard cap on requests in flight.")
    rpm: int | None = Field(None, ge=1, description="Requests per minute the provider allows this credential.")
    tpm: int | None = Field(None, ge=1, description="Tokens per minute the provider allows this credential.")
    daily: int | None = Field(None, ge=1, description="Requests per day the provider allows this credential.")

    @model_validator(mode="after")
    def _key_or_file(self) -> CredentialConfig:
        if (self.key is None) == (self.oauth_file is None):
            raise ValueError("a credential has either key or oauth_file, not both and not neither")
        return self


CapValue = Annotated[int | str, Field(description="An absolute number, or a percentage such as '80%'.")]


class CapConfig(_Model):
    """Per-credential caps for one model or quota group; they only ever tighten the known limits."""

    rpm: CapValue | None = Field(
        None, description="Requests per minute: a number or a percentage of the credential's rpm."
    )
    tpm: CapValue | None = Field(
        None, description="Tokens per minute: a number or a percentage of the credential's tpm."
    )
    daily: CapValue | None = Field(
        None, description="Requests per day: a number or a percentage of the credential's daily."
    )

    cooldown: str = Field(
        "quota_reset",
        description="Once the cap is reached: quota_reset (out until its window frees), offset:<s> (and s more "
        "seconds), or fixed:<s> (s seconds, or until the window frees if that is later).",
    )

    @field_validator("cooldown")
    @classmethod
    def _cooldown_form(cls, value: str) -> str:
        mode, _, seconds = value.partition(":")
        if value != "quota_reset" and (mode not in ("offset", "fixed") or not seconds.replace(".", "", 1).isdigit()):
            raise ValueError("a cap cooldown is quota_reset, offset:<seconds> or fixed:<seconds>")
        return value

    @field_validator("rpm", "tpm", "daily")
    @classmethod
    def _cap_form(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, str):
            number = value.removesuffix("%")
            if not value.endswith("%") or not number.replace(".", "", 1).isdigit() or not 0 < float(number) <= 100:
                raise ValueError("a cap is a positive number or a percentage such as '80%'")
        elif isinstance(value, int) and value < 1:
            raise ValueError("a cap must be at least 1")
        return value


class FairCycleConfig(_Model):
    """Sequential selection's fair cycle: an exhausted credential waits until the others had their turn."""

    enabled: bool = Field(True, description="Turn the fair cycle on (sequential selection only).")
    duration: float = Field(604800.0, gt=0, description="Seconds after which a cycle starts over regardless.")
    exhaustion_threshold: float = Field(
        300.0,
        ge=0,
        description="A credential cooldown at least this long spends its turn in the cycle; a brief 429 does not.",
    )


Credentials = Annotated[list[CredentialConfig], BeforeValidator(_key_strings)]


ScopePart = Literal["provider", "model", "credential", "session", "conversation"]
FieldCacheSource = Literal[
    "request", "response", "stream_event", "unified_request", "unified_response", "unified_stream_event"
]
FieldCacheMode = Literal["last", "all", "last_user_turn", "last_assistant_turn", "per_tool_call"]
_DEFAULT_SCOPE: tuple[ScopePart, ...] = ("provider", "model", "credential", "session")
_SAFE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"


class AdapterConfig(_Model):
    """One adapter of a provider's chain, with its own config and an optional model filter."""

    name: str = Field(description="A built-in or registered adapter name (or alias).")
    config: dict[str, Any] = Field(default_factory=dict, description="The adapter's own settings.")
    models: list[str] | None = Field(None, description="Run only for these upstream models.")


class FieldCacheInjection(_Model):
    """Where a field-cache rule puts its stored value on the next request."""

    target: Literal["request", "unified_request", "metadata"] = Field(
        "request", description="The native request body, the unified request, or the request's metadata."
    )
    path: str = Field(description="Path in the target (turn modes: in the turn; per_tool_call: in each tool item).")
    when_missing_only: bool = Field(False, description="Leave a value the request already has.")
    as_list: bool = Field(False, description="Inject the value wrapped in a list (mode all always injects a list).")
    turn_container_path: str | None = Field(
        None, description="Turn modes: the turns in the target; defaults to the rule's turn_container_path."
    )
    tool_container_path: str | None = Field(
        None, description="per_tool_call: the tool items of the target to inject into (e.g. 'messages[*]')."
    )
    tool_call_id_path: str = Field("id", description="per_tool_call: the tool-call id inside each target item.")


class FieldCacheRule(_Model):
    """One rule of a provider's ``field_cache``: what to remember from one exchange and put into the next."""

    name: str = Field(pattern=_SAFE_NAME, description="Unique, filesystem-safe name; replaces a built-in rule.")
    source: FieldCacheSource = Field(description="Where values come from, raw or unified.")
    path: str = Field(description="The value to extract (turn modes on a request: in the turn).")
    mode: FieldCacheMode = Field(
        "last", description="last overwrites, all appends, turn modes use one turn, per_tool_call keys by call id."
    )
    scope: list[ScopePart] = Field(
        default_factory=lambda: list(_DEFAULT_SCOPE), description="What the stored value is keyed by."
    )
    inject: FieldCacheInjection = Field(description="Where the value goes.")
    enabled: bool = Field(True, description="Turn the rule off without removing it.")
    ttl_seconds: float = Field(3600.0, gt=0, description="How long a stored value lives.")
    allow_missing_session: bool = Field(
        False, description="Store and inject without a session (or conversation), in one shared bucket."
    )
    cache_key: str | None = Field(
        None, pattern=_SAFE_NAME, description="Storage identity shared by a stream rule and its non-stream twin."
    )
    max_values: int = Field(1024, ge=1, description="Most values kept (mode all) or tool calls kept per answer.")
    max_bytes: int = Field(
        4 * 1024 * 1024, ge=1, description="Largest stored value (mode all: most bytes injected); bigger is dropped."
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Free-form; provider_continuation: true allows continuation-id injection."
    )
    turn_container_path: str = Field("messages", description="Turn modes: the turns of a request.")
    turn_role_path: str = Field("role", description="Turn modes: the role inside each turn.")
    tool_container_path: str | None = Field(
        None, description="per_tool_call: the tool items of the source; then paths are relative to each item."
    )
    tool_call_id_path: str | None = Field(None, description="per_tool_call: the tool-call id (required).")

    @model_validator(mode="after")
    def _consistent(self) -> FieldCacheRule:
        if len(set(self.scope)) != len(self.scope):
            raise ValueError("scope lists a component twice")
        request_side = self.source in ("request", "unified_request")
        if self.mode == "last_user_turn" and not request_side:
            raise ValueError("last_user_turn reads a request: source must be request or unified_request")
        if self.mode in ("last_user_turn", "last_assistant_turn") and self.inject.target == "metadata":
            raise ValueError("turn modes inject into a turn: target must be request or unified_request")
        if self.mode == "per_tool_call":
            if not self.tool_call_id_path:
                raise ValueError("per_tool_call needs tool_call_id_path")
            if not self.inject.tool_container_path:
                raise ValueError("per_tool_call needs inject.tool_container_path")
            if self.inject.as_list:
                raise ValueError("per_tool_call injects by tool-call id; as_list does not apply")
        return self


def _unique_rule_names(rules: list[FieldCacheRule]) -> list[FieldCacheRule]:
    names = [rule.name for rule in rules]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"field-cache rule names must be unique: {', '.join(duplicated)}")
    return rules


FieldCacheRules = Annotated[list[FieldCacheRule], AfterValidator(_unique_rule_names)]


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: Query parameter names that would carry a secret in the URL (and so into URL logs): use auth instead.
_SECRET_QUERY = re.compile(r"key|token|secret|password|signature|sig|auth", re.IGNORECASE)


class ProviderConfig(_Model):
    """An upstream: its protocol, where it lives, and its credential pool."""

    preset: str | None = Field(
        None, description="A catalogue preset merged under this provider's own fields (see docs/providers.md)."
    )
    protocol: str = Field(
        description="openai_chat, openai_responses, anthropic_messages, gemini or litellm "
        "(or a protocol the app registered)."
    )
    base_url: str = Field(
        "",
        description="What the protocol's official SDK takes as base_url; for litellm, the api_base "
        "(leave it out for LiteLLM's default).",
    )
    default_output_protocol: str | None = Field(
        None,
        description="Answer in this protocol's shape (body, stream events, errors) whatever the client spoke, "
        "unless the request's X-Proxy-Output-Protocol header names another; aliases accepted.",
    )
    query: dict[str, str] = Field(
        default_factory=dict, description="Fixed query parameters on every upstream request (e.g. api-version)."
    )
    credentials: Credentials = Field(
        default_factory=list,
        description="Strings or {key, priority, max_concurrency, rpm, tpm, daily}; <NAME>_API_KEY[_N] add more.",
    )
    models: dict[str, ModelOptions] = Field(
        default_factory=dict, description="Model names (a list) or name -> options; never a whitelist."
    )
    models_include: list[str] = Field(
        default_factory=list,
        description="Globs of discovered models to list even when models_exclude matches (whitelist wins).",
    )
    models_exclude: list[str] = Field(
        default_factory=list, description="Globs of discovered models to leave out of listings ('*' for all)."
    )
    discover: bool = Field(True, description="List the models the provider's own model-list endpoint reports.")
    quota_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Group name -> models sharing cooldowns and resets."
    )
    selection: Literal["balanced", "sequential", "priority"] = Field(
        "balanced", description="How a credential is picked."
    )
    optimal_concurrency: int | None = Field(
        None, ge=1, description="Soft target of requests in flight per credential before load stacks on one."
    )
    caps: dict[str, CapConfig] = Field(
        default_factory=dict,
        description="Keyed by model or quota group, or '*'; a 't2:' or 't1-3:' prefix limits a cap to those tiers.",
    )
    daily_reset_hour: int = Field(0, ge=0, le=23, description="UTC hour when daily windows reset.")
    fair_cycle: FairCycleConfig = Field(
        default_factory=FairCycleConfig, description="Fair-cycle settings for sequential selection."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers on every upstream request.")
    auth: Literal["bearer", "x-api-key", "x-goog-api-key", "none", "custom", "anthropic_oauth", "iflow"] | None = Field(
        None,
        description="How the key is sent; by default the protocol's own (bearer, x-api-key, x-goog-api-key). "
        "none: keyless, one anonymous credential is implied; "
        "anthropic_oauth: Bearer, but x-api-key for sk-ant-api keys; iflow: Bearer plus iFlow's signature.",
    )
    auth_header: str | None = Field(None, description="Header name for auth: custom.")
    adapters: list[str | AdapterConfig] = Field(
        default_factory=list, description="Adapter chain, in order: names or {name, config, models}."
    )
    field_cache: FieldCacheRules = Field(
        default_factory=list,
        description="Fields to remember from one exchange and inject into the next; a built-in's name replaces it.",
    )
    # OAuth credentials (oauth_file entries, and the Copilot token exchange): see docs/subscriptions/.
    token_flow: Literal["refresh_token", "copilot_exchange", "iflow"] = Field(
        "refresh_token",
        description="How an OAuth token is renewed: an OAuth refresh, GitHub Copilot's token exchange (every "
        "credential is then a GitHub token), or iFlow's refresh followed by its API-key lookup.",
    )
    token_url: str | None = Field(
        None, description="The token (or Copilot exchange) endpoint; a credential file's own token_url wins."
    )
    token_body: Literal["form", "json"] = Field("form", description="How the refresh request's body is encoded.")
    token_auth: Literal["body", "basic"] = Field(
        "body", description="client_secret in the body, or also as HTTP Basic auth (iFlow)."
    )
    client_id: str | None = Field(None, description="OAuth client id sent with a refresh (a file's own wins).")
    client_secret: SecretStr | None = Field(None, description="OAuth client secret, for clients that have one.")
    token_scope: str | None = Field(None, description="scope sent with a refresh, for endpoints that want it.")
    project_discovery: Literal["gemini_cli", "antigravity"] | None = Field(
        None,
        description="Find (or onboard) the Code Assist project of a credential without project_id, as that "
        "client does, and save it in the credential file.",
    )
    credential_base_url: bool = Field(
        False,
        description="A base URL the credential brings (Copilot's endpoints.api, Qwen's resource_url) replaces "
        "base_url.",
    )

    @model_validator(mode="before")
    @classmethod
    def _merge_preset(cls, data: Any) -> Any:
        return apply_preset(data) if isinstance(data, dict) else data

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("base_url")
    @classmethod
    def _clean_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("must not carry credentials, a query or a fragment (use query for fixed parameters)")
        unknown = [name for name in _PLACEHOLDER.findall(value) if name != "model"]
        if unknown:
            raise ValueError(f"replace the placeholder {{{unknown[0]}}}; only {{model}} is filled in per request")
        return value.rstrip("/")

    @field_validator("query")
    @classmethod
    def _no_secret_in_query(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if _SECRET_QUERY.search(name):
                raise ValueError(f"{name!r} looks like a secret; send it with auth, not in the URL")
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _model_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {name: {} for name in value}
        if isinstance(value, dict):
            return {name: options or {} for name, options in value.items()}
        return value

    @model_validator(mode="after")
    def _base_url_needed(self) -> ProviderConfig:
        if not self.base_url and self.protocol != "litellm":
            raise ValueError("base_url is required (only litellm providers may leave it out)")
        return self

    @model_validator(mode="after")
    def _consistent_auth(self) -> ProviderConfig:
        if self.auth == "custom" and not self.auth_header:
            raise ValueError("auth: custom needs auth_header")
        if self.auth == "none" and self.credentials:
            raise ValueError("auth: none sends no key; remove credentials (one anonymous credential is implied)")
        return self


class Budget(_Model):
    """What one client key may spend per UTC day or calendar month; a request is refused once a limit is reached."""

    requests: int | None = Field(None, ge=1, description="Requests per period.")
    tokens: int | None = Field(None, ge=1, description="Tokens per period (input, cache and output).")
    usd: float | None = Field(None, gt=0, description="USD per period; requests of unknown cost count as 0.")
    period: Literal["day", "month"] = Field("day", description="The budget's period (UTC day or calendar month).")

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        if self.requests is None and self.tokens is None and self.usd is None:
            raise ValueError("a budget needs at least one of requests, tokens, usd")
        return self


class ClientKey(_Model):
    """A key clients present; ``scope`` ties it to a tenant scope, ``budget`` caps its usage."""

    key: Secret = Field(description="The client key (a secret); surrounding whitespace is dropped.")
    scope: str | None = Field(None, description="Tenant scope this key belongs to.")
    name: str | None = Field(None, description="A label for humans.")
    budget: Budget | None = Field(None, description="Spending limits for this key.")


ClientKeys = Annotated[list[ClientKey], BeforeValidator(_key_strings)]


class AuthConfig(_Model):
    """Client keys. With no ``api_keys`` the gateway is open (and says so at startup)."""

    api_keys: ClientKeys = Field(
        default_factory=list, description="Client keys; none configured leaves the gateway open."
    )
    admin_keys: ClientKeys = Field(
        default_factory=list, description="Keys that may read every scope, trace and credential."
    )


class ScopeProvider(_Model):
    """A scope's own credentials for one provider."""

    credentials: Credentials = Field(default_factory=list, description="The scope's own credentials for this provider.")


class ScopeConfig(_Model):
    """A tenant scope: its own credentials and isolated state."""

    providers: dict[str, ScopeProvider] = Field(
        default_factory=dict, description="Provider name -> the scope's credentials."
    )
    fallback_to_global: bool = Field(
        False, description="May a scoped request use the global pool when its own is exhausted."
    )


class FallbackGroup(_Model):
    """Targets tried in order; a requested model in the group is tried first."""

    targets: list[str] = Field(min_length=1, description="provider/model targets, in order.")
    failover_on: list[str] = Field(
        description="Error classes that move on to the next target.",
        default_factory=lambda: [
            "rate_limit",
            "quota_exceeded",
            "server_error",
            "api_connection",
            "timeout",
            "no_credentials",
            "authentication",
            "permission",
            "upstream_invalid",
        ],
    )
    stop_on: list[str] = Field(default_factory=list, description="Error classes that stop the request at once.")
    streaming_policy: Literal["pre_output_only", "never"] = Field(
        "pre_output_only",
        description="pre_output_only: streams fall back until the first visible output; never: not at all.",
    )


class RoutingConfig(_Model):
    """Aliases, fallback groups and the request budget."""

    aliases: dict[str, str] = Field(default_factory=dict, description="Alias -> provider/model (or another alias).")
    fallback_groups: list[FallbackGroup] = Field(default_factory=list, description="Groups of targets tried in order.")
    max_wait: float = Field(10.0, ge=0, description="Longest wait for a cooling or busy pool, in seconds.")
    request_timeout: float = Field(600.0, gt=0, description="Budget for acquisition, waits, retries and fallbacks.")
    connect_retries: int | None = Field(None, ge=0, description="Deprecated: use retries.connect.")

    @field_validator("fallback_groups", mode="before")
    @classmethod
    def _group_lists(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"targets": item} if isinstance(item, list) else item for item in value]
        return value


class RetriesConfig(_Model):
    """Retries the gateway makes itself, before the next credential or target (all inside the request budget)."""

    same_credential: int = Field(
        2, ge=0, description="Retries of a transient answer (500, 502, 503, 529, overloaded) on the same credential."
    )
    connect: int = Field(1, ge=0, description="Retries of the same provider after a connection error.")
    backoff_base: float = Field(0.5, ge=0, description="First retry's backoff in seconds (doubling, jittered).")
    backoff_max: float = Field(4.0, ge=0, description="Longest backoff between retries, in seconds.")


class CooldownConfig(_Model):
    """How long failing credentials, models and providers rest."""

    rate_limit_steps: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [10.0, 30.0, 60.0, 120.0, 300.0],
        min_length=1,
        description="Seconds a key rests after its 1st, 2nd... rate limit in a row without a retry-after.",
    )
    rate_limit_cap: float = Field(300.0, gt=0, description="Longest rest of a rate-limited key without a retry-after.")
    quota_exceeded: float = Field(
        3600.0, gt=0, description="Rest of a key out of quota or credit when the provider names no reset."
    )
    max: float = Field(86400.0, gt=0, description="Longest cooldown from any source; longer retry-afters are clamped.")
    auth_bench: float = Field(300.0, gt=0, description="401/403 bench time.")
    model_capacity: float = Field(60.0, gt=0, description="A model out of capacity, without a retry-after.")
    provider_threshold: int = Field(3, ge=1, description="Transient failures within the window that cool a provider.")
    provider_window: float = Field(60.0, gt=0, description="Window in seconds for counting transient failures.")
    provider_backoff_base: float = Field(30.0, gt=0, description="First provider/model backoff in seconds.")
    provider_backoff_max: float = Field(300.0, gt=0, description="Longest backoff in seconds.")


class SessionsConfig(_Model):
    """Session affinity: one conversation stays on one credential while it is healthy."""

    enabled: bool = Field(True, description="Turn session affinity on.")
    sticky_ttl: float = Field(300.0, ge=0, description="Seconds a session keeps its credential after its last use.")
    sticky_wait: float = Field(2.0, ge=0, description="Wait for a busy sticky credential before moving.")
    anchor_ttl: float = Field(3600.0, gt=0, description="How long conversation evidence is remembered.")


Seconds = Annotated[float, Field(gt=0)]


class StreamingConfig(_Model):
    """Stream guard timers in seconds; null disables one."""

    ttfb_timeout: Seconds | None = Field(60.0, description="Seconds allowed before the first upstream byte.")
    stall_timeout: Seconds | None = Field(60.0, description="Seconds allowed between upstream chunks.")
    heartbeat_interval: Seconds | None = Field(15.0, description="Seconds of silence before a heartbeat to the client.")


class TraceConfig(_Model):
    """Transformation trace files: one JSONL file per request under ``dir``."""

    enabled: bool = Field(False, description="Write a trace file per request.")
    dir: str = Field("./traces", description="Directory for trace files.")
    stream_capture: Literal["full", "sampled"] = Field(
        "full", description="Record every stream event, or the first and then one in every sample_every."
    )
    sample_every: int = Field(
        10, ge=1, description="With stream_capture: sampled, record one stream event in this many."
    )
    max_bytes_per_request: int = Field(
        16 * 1024 * 1024, ge=1024, description="Entries past this many bytes of one request's trace are dropped."
    )
    show_reasoning: bool = Field(
        False,
        description="Keep reasoning text (thinking, reasoning_content, reasoning summaries) in traces; provider "
        "state (signatures, encrypted_content) and prompt_cache_key stay redacted.",
    )


class ResponsesConfig(_Model):
    """Stored Responses API state."""

    ttl: int = Field(86400, gt=0, description="Seconds a stored response lives.")
    shared: bool = Field(False, description="Every client key may read every stored response.")
    max_depth: int = Field(100, ge=1, description="Longest previous_response_id chain replayed; deeper is a 400.")
    max_bytes_per_owner: int = Field(
        256 * 1024 * 1024,
        gt=0,
        description="Bytes of responses one scope (or global key) may store per ttl; past it, storing ones get 429.",
    )


class StateConfig(_Model):
    """Where shared state lives."""

    backend: Literal["memory", "redis"] = Field("memory", description="memory (one process) or redis (replicas).")
    url: str | None = Field(None, description="Redis URL, for backend: redis.")
    prefix: str = Field(
        "rotator:",
        description="Prefix of every state key. With a redis+cluster url it holds a hash tag ('{rotator}:' "
        "there by default), which puts every key of the gateway in one hash slot.",
    )
    fingerprint_key: SecretStr | None = Field(
        None, description="HMAC key for credential fingerprints; set the same value on every replica."
    )
    lease_ttl: float = Field(60.0, gt=0, description="How long a dead replica's in-flight slots stay taken.")
    memory_max_keys: int = Field(
        100_000,
        gt=0,
        description="Entries the memory backend keeps at most (about 100 MB of conversations and stored responses "
        "at the default); past it, the least recently used (a stale conversation or stored response) are dropped "
        "before their TTL ends.",
    )
    encryption_key: SecretStr | None = Field(
        None,
        description="Fernet key (cryptography) that shares refreshed OAuth tokens and credentials added at runtime "
        "between replicas, encrypted; without it each replica keeps its own (OAuth replicas still meet in a shared "
        "credential file; a runtime credential serves only the replica that received it).",
    )
    runtime_poll_interval: float = Field(
        2.0,
        gt=0,
        description="Seconds between checks for runtime configuration changes other replicas made (one small "
        "read each).",
    )
    on_error: Literal["degrade", "fail"] = Field(
        "degrade", description="When Redis fails: serve on per-replica memory state, or answer 503."
    )
    retry_after: float = Field(
        5.0, gt=0, description="With on_error: degrade, seconds on local state before Redis is tried again."
    )

    @model_validator(mode="before")
    @classmethod
    def _cluster_prefix(cls, data: Any) -> Any:
        """A Redis Cluster runs a script only on keys of one slot: every key shares the prefix's hash tag."""
        if not isinstance(data, dict) or not str(data.get("url") or "").split("://")[0].endswith("+cluster"):
            return data
        prefix = str(data.get("prefix", "{rotator}:"))
        opening = prefix.find("{")
        if opening < 0 or prefix.find("}", opening + 1) < opening + 2:
            raise ValueError(
                f"prefix {prefix!r} has no hash tag; a Redis Cluster needs one so that every key shares a slot, "
                "e.g. '{rotator}:'"
            )
        return {**data, "prefix": prefix}


class EmbeddingsConfig(_Model):
    """Embeddings: optional batching of concurrent small requests into one upstream call."""

    batching: bool = Field(
        False, description="Merge concurrent small embeddings requests for the same model into one upstream call."
    )
    max_items: int = Field(64, ge=2, description="A batch goes upstream once it holds this many inputs.")
    max_wait: float = Field(0.1, gt=0, description="Or once its first request has waited this many seconds.")


class ServerConfig(_Model):
    """HTTP limits and upstream transport."""

    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0, description="Largest request body accepted (413 beyond).")
    max_upstream_body_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="Largest non-streamed upstream answer read (a larger one is a 502)."
    )
    max_sse_event_bytes: int = Field(
        16 * 1024 * 1024, gt=0, description="Largest single event of an upstream stream (a larger one fails it)."
    )
    forward_headers: list[str] = Field(
        default_factory=lambda: ["anthropic-beta", "openai-beta"], description="Client headers passed on to upstreams."
    )
    connect_timeout: float = Field(10.0, gt=0, description="Upstream connect timeout in seconds.")
    read_timeout: float = Field(600.0, gt=0, description="Upstream read timeout for non-streamed requests, in seconds.")
    max_connections: int = Field(1000, gt=0, description="Upstream connections open at once, streams included.")
    pool_timeout: float = Field(
        5.0,
        gt=0,
        description="Seconds a request waits for a free upstream connection before it is answered 503 (never counted "
        "as an upstream timeout: nothing is cooled).",
    )
    proxy: str | None = Field(
        None,
        description="HTTP proxy URL for every upstream request; without it HTTP_PROXY, HTTPS_PROXY and NO_PROXY apply.",
    )
    verify_tls: bool = Field(True, description="Verify upstream TLS certificates.")
    ca_bundle: str | None = Field(
        None, description="A PEM file of CA certificates to verify upstreams with instead of certifi's."
    )
    user_agent: str = Field(
        f"asgi-rotator/{_VERSION}", description="User-Agent of upstream requests (a provider's headers override it)."
    )


class DiscoveryConfig(_Model):
    """Model discovery: each provider's own model list, kept in the state backend for listings."""

    enabled: bool = Field(True, description="Ask providers for their model lists (per provider: discover).")
    ttl: float = Field(3600.0, gt=0, description="Seconds before a provider's list is refreshed in the background.")
    timeout: float = Field(10.0, gt=0, description="Seconds a model-list request may take.")
    retry: float = Field(60.0, gt=0, description="Seconds before a failed fetch is tried again.")


class RotatorConfig(_Model):
    """The whole gateway configuration."""

    providers: dict[str, ProviderConfig] = Field(
        default_factory=dict, description="Upstream providers by the name clients use as the model prefix."
    )
    auth: AuthConfig = Field(default_factory=AuthConfig, description="Client keys.")
    scopes: dict[str, ScopeConfig] = Field(default_factory=dict, description="Tenant scopes by name.")
    routing: RoutingConfig = Field(
        default_factory=RoutingConfig, description="Aliases, fallback groups and the request budget."
    )
    cooldowns: CooldownConfig = Field(default_factory=CooldownConfig, description="Cooldown durations and backoff.")
    retries: RetriesConfig = Field(default_factory=RetriesConfig, description="Retries before rotating.")
    sessions: SessionsConfig = Field(default_factory=SessionsConfig, description="Session affinity.")
    streaming: StreamingConfig = Field(default_factory=StreamingConfig, description="Stream timers.")
    trace: TraceConfig = Field(default_factory=TraceConfig, description="Transform traces.")
    responses: ResponsesConfig = Field(default_factory=ResponsesConfig, description="Stored Responses API state.")
    state: StateConfig = Field(default_factory=StateConfig, description="Where shared state lives.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="HTTP limits and upstream timeouts.")
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig, description="Model discovery.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="One log line per request.")
    otel: OtelConfig = Field(default_factory=OtelConfig, description="OpenTelemetry spans and metrics.")
    recent_requests: RecentRequestsConfig = Field(
        default_factory=RecentRequestsConfig, description="The summaries GET /rotator/requests lists."
    )
    embeddings: EmbeddingsConfig = Field(default_factory=EmbeddingsConfig, description="Embeddings batching.")

    @model_validator(mode="before")
    @classmethod
    def _deprecated_connect_retries(cls, data: Any) -> Any:
        routing = data.get("routing") if isinstance(data, dict) else None
        if isinstance(routing, dict) and routing.get("connect_retries") is not None:
            retries = data.get("retries") or {}
            if isinstance(retries, dict) and "connect" not in retries:
                data = {**data, "retries": {**retries, "connect": routing["connect_retries"]}}
        return data

    @model_validator(mode="after")
    def _references(self) -> RotatorConfig:
        for alias, target in self.routing.aliases.items():
            if target.partition("/")[0] not in self.providers and target not in self.routing.aliases:
                raise ValueError(f"routing.aliases.{alias}: target {target!r} names no configured provider")
        for i, group in enumerate(self.routing.fallback_groups):
            for target in group.targets:
                if target.partition("/")[0] not in self.providers:
                    raise ValueError(f"routing.fallback_groups[{i}]: target {target!r} names no configured provider")
        for key in self.auth.api_keys:
            if key.scope is not None and key.scope not in self.scopes:
                raise ValueError(f"auth.api_keys: scope {key.scope!r} is not defined under scopes")
        for name, scope in self.scopes.items():
            for provider in scope.providers:
                if provider not in self.providers:
                    raise ValueError(f"scopes.{name}.providers.{provider}: no such provider")
        return self
