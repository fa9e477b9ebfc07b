"""Generate the configuration reference (docs/configuration.md) from the pydantic models themselves.

    python -m asgi_rotator.config.reference > docs/configuration.md

A test compares the committed file with this output, so the reference cannot drift from the schema.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .models import RotatorConfig

_INTRO = """# Configuration reference

Generated from the pydantic models by `python -m asgi_rotator.config.reference`; do not edit by hand.
Every section is optional. Strings may use `${VAR}` or `${VAR:-default}`; secrets (credentials, client keys)
are never echoed in errors or `repr`.
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (list, dict, tuple):
        inner = ", ".join(_type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]"
    if isinstance(annotation, type):
        return "null" if annotation is type(None) else annotation.__name__
    return str(annotation)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "—"
        return "see section" if isinstance(value, BaseModel) else f"`{value!r}`"
    if field.default is PydanticUndefined:
        return "**required**"
    return f"`{field.default!r}`"


def _models(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> None:
    if model.__name__ in seen:
        return
    seen[model.__name__] = model
    for field in model.model_fields.values():
        for candidate in _nested(field.annotation):
            _models(candidate, seen)


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _nested(arg)]


def render() -> str:
    """The whole reference as Markdown."""
    seen: dict[str, type[BaseModel]] = {}
    _models(RotatorConfig, seen)
    lines = [_INTRO]
    for name, model in seen.items():
        lines.append(f"## {name}\n")
        doc = (model.__doc__ or "").strip().splitlines()
        if doc:
            lines.append(doc[0] + "\n")
        lines.append("| Field | Type | Default | Description |")
        lines.append("|---|---|---|---|")
        for field_name, field in model.model_fields.items():
            description = (field.description or "").replace("|", "\\|")
            type_name = _type_name(field.annotation).replace("|", "\\|")
            lines.append(f"| `{field_name}` | {type_name} | {_default(field)} | {description} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
