"""Loading configuration: files, ``${VAR}`` interpolation, credentials from the environment and ``.env``.

Sources, in order: the ``source`` argument (dict, :class:`RotatorConfig`, or a path to a ``.yaml``/``.json``
file), else the file named by ``ROTATOR_CONFIG``, else the environment alone (its providers come from
:mod:`asgi_rotator.catalogue.environment`). On top of any of them, ``<PROVIDER>_API_KEY[_<N>]`` add
credentials, ``<PROVIDER>_API_BASE`` a base URL and ``IGNORE_MODELS_``/``WHITELIST_MODELS_<PROVIDER>`` model
filters; ``PROXY_API_KEY`` is the client key when the configuration names none.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..catalogue.environment import apply_environment, providers_from_env
from ..errors import ConfigError
from .models import RotatorConfig

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def load_config(source: RotatorConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None) -> RotatorConfig:
    """Build a validated :class:`RotatorConfig` from ``source`` (see the module docstring).

    Raises:
        ConfigError: the configuration is invalid; the message names the field and never echoes a secret.
    """
    if isinstance(source, RotatorConfig):
        return source
    env = _environment()
    if source is None and env.get("ROTATOR_CONFIG"):
        source = env["ROTATOR_CONFIG"]
    if source is None:
        raw: dict[str, Any] = {}
    elif isinstance(source, Mapping):
        raw = dict(source)
    else:
        raw = _read_file(Path(source))
    raw = _interpolate(raw, env, "")
    _add_environment(raw, env, from_env=source is None)
    return validate_config(raw)


def validate_config(raw: Mapping[str, Any]) -> RotatorConfig:
    """``raw`` (already interpolated, as a file would hold it) validated as a :class:`RotatorConfig`.

    Raises:
        ConfigError: the configuration is invalid; the message names the field and never echoes a secret.
    """
    try:
        return RotatorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _environment() -> dict[str, str]:
    """The process environment over a ``.env`` file in the working directory (the environment wins)."""
    merged = _read_dotenv(Path(".env"))
    merged.update(os.environ)
    return merged


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"config file {str(path)!r} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
    return data


def _interpolate(value: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{where or 'config'}: environment variable {name} is not set")

        return _VAR.sub(replace, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _add_environment(raw: dict[str, Any], env: Mapping[str, str], *, from_env: bool) -> None:
    """Providers, credentials and model filters from the environment; ``PROXY_API_KEY`` as the client key when
    the configuration names none."""
    providers = raw.setdefault("providers", {})
    if not isinstance(providers, dict):
        return
    if from_env and not providers:
        providers.update(providers_from_env(env))
    auth = raw.get("auth")
    if env.get("PROXY_API_KEY") and (auth is None or (isinstance(auth, dict) and not auth.get("api_keys"))):
        raw["auth"] = {**(auth or {}), "api_keys": [env["PROXY_API_KEY"]]}
    for name, provider in providers.items():
        if isinstance(provider, dict):
            apply_environment(name, provider, env)


def _describe(exc: ValidationError) -> str:
    """A readable message naming each bad field; pydantic's own text would echo the input (a secret, maybe)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"] if part not in ("function-after",))
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{location or 'config'}: {message}")
    return "invalid configuration: " + "; ".join(lines)
