"""Providers and provider settings from environment variables (the process environment over a ``.env``).

    <NAME>_API_KEY, <NAME>_API_KEY_<N>   credentials of provider NAME (lower case, ``-`` spelled ``_``)
    <NAME>_API_BASE                      its base URL; for a NAME that is no preset, a new OpenAI Chat provider
    IGNORE_MODELS_<NAME>                 comma-separated globs -> models_exclude
    WHITELIST_MODELS_<NAME>              comma-separated globs -> models_include (whitelist wins)

With no providers configured, every preset named by a key or a base URL becomes a provider (one whose base URL
has a placeholder, ``azure``, only with a base URL), and every other
``<NAME>_API_BASE`` an OpenAI Chat provider called ``name`` (keyless unless ``<NAME>_API_KEY`` is set). A
configured provider takes credentials and filters from the environment too, and its base URL when it sets none
itself (a preset's base is overridden that way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .merge import all_presets

_BASE_SUFFIX = "_API_BASE"


def env_name(provider: str) -> str:
    """The ``NAME`` part of a provider's environment variables."""
    return provider.upper().replace("-", "_")


def env_keys(env: Mapping[str, str], provider: str) -> list[str]:
    """``<NAME>_API_KEY`` then ``<NAME>_API_KEY_<N>`` in number order, without empties or repeats."""
    prefix = f"{env_name(provider)}_API_KEY"
    numbered = sorted(
        (int(name[len(prefix) + 1 :]), value)
        for name, value in env.items()
        if name.startswith(prefix + "_") and name[len(prefix) + 1 :].isdigit() and value
    )
    keys = [env[prefix]] if env.get(prefix) else []
    for _, value in numbered:
        if value not in keys:
            keys.append(value)
    return keys


def providers_from_env(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The providers an environment alone describes (for a configuration that names none)."""
    providers: dict[str, dict[str, Any]] = {}
    for name, fields in all_presets().items():
        base = env.get(env_name(name) + _BASE_SUFFIX)
        # A preset whose base URL has a part only the user knows ({resource}) needs <NAME>_API_BASE as well.
        complete = "{" not in str(fields.get("base_url", "")).replace("{model}", "")
        if base or (complete and env_keys(env, name)):
            providers[name] = {"preset": name}
    for variable, value in env.items():
        name = variable[: -len(_BASE_SUFFIX)].lower()
        if not variable.endswith(_BASE_SUFFIX) or not value or not name or name in providers:
            continue
        providers[name] = {"protocol": "openai_chat"}
        if not env_keys(env, name):
            providers[name]["auth"] = "none"
    return providers


def apply_environment(name: str, provider: dict[str, Any], env: Mapping[str, str]) -> None:
    """Add to a provider's raw fields what the environment says about it (see the module docstring)."""
    prefix = env_name(name)
    base = env.get(prefix + _BASE_SUFFIX)
    if base and "base_url" not in provider:
        provider["base_url"] = base
    for variable, field in (("IGNORE_MODELS_", "models_exclude"), ("WHITELIST_MODELS_", "models_include")):
        globs = [g.strip() for g in env.get(variable + prefix, "").split(",") if g.strip()]
        if globs and field not in provider:
            provider[field] = globs
    listed = provider.setdefault("credentials", [])
    if not isinstance(listed, list):
        return
    present = {item if isinstance(item, str) else item.get("key") for item in listed if item}
    listed.extend(key for key in env_keys(env, name) if key not in present)
