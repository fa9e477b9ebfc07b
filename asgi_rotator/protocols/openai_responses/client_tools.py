"""Responses tools that other protocols know only as functions: Codex's ``custom``, ``local_shell``,
``namespace`` and client-executed ``tool_search`` tools, their calls, and their history items.

The documented translations (docs/fidelity.md):

- A ``custom`` tool (freeform input, e.g. ``apply_patch`` with a lark grammar) becomes a function with one
  string argument ``input``; the grammar goes into that argument's description. Its calls come back as
  ``custom_tool_call`` items carrying ``input``; ``custom_tool_call_output`` history is the function result.
- ``local_shell`` becomes a function ``local_shell`` whose arguments are the ``exec`` action's fields;
  ``local_shell_call`` history is a call of that function.
- A ``namespace`` is flattened: each member is a tool named ``<namespace>__<name>`` (members of the model's
  default namespace ``functions`` keep their bare names, as the API itself calls them); a call comes back
  under its bare name with ``namespace`` set.
- ``tool_search`` with ``execution: "client"`` becomes a function ``tool_search``; its calls come back as
  ``tool_search_call`` items, and the tools a ``tool_search_output`` returns join the offered tools.

Everything here is keyed by the flattened name the upstream sees, so a call maps back with a lookup.
"""

from __future__ import annotations

from typing import Any

from ... import _json
from ...errors import invalid_request
from .._common import expect, optional, require
from ..unified import ClientToolKind, ToolCall, ToolDefinition

#: The single argument a freeform (``custom``) tool takes once it is a function.
FREEFORM_ARGUMENT = "input"
#: The namespace whose members the API calls by their bare names.
DEFAULT_NAMESPACE = "functions"
NAMESPACE_SEPARATOR = "__"
LOCAL_SHELL = "local_shell"
TOOL_SEARCH = "tool_search"
#: Tool types this module turns into function tools.
KINDS = frozenset({"custom", "local_shell", "namespace", "tool_search"})
_LOCAL_SHELL_SCHEMA = {
    "type": "object",
    "properties": {
        "command": {"type": "array", "items": {"type": "string"}, "description": "The command and its arguments."},
        "working_directory": {"type": "string"},
        "timeout_ms": {"type": "integer"},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["command"],
}
_TOOL_SEARCH_SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "What to search the deferred tools for."}},
    "required": ["query"],
}


def flat_name(namespace: str | None, name: str) -> str:
    """The name a namespaced tool has once flattened."""
    if namespace is None or namespace == DEFAULT_NAMESPACE:
        return name
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}"


def parse_tool(raw: dict[str, Any], where: str, namespace: str | None = None) -> list[ToolDefinition]:
    """The function tools standing for one ``custom``, ``local_shell``, ``namespace`` or ``tool_search`` tool
    (or a plain ``function`` inside a namespace)."""
    kind = optional(raw, "type", str, f"{where}.") or "function"
    if kind == "namespace":
        ns = require(raw, "name", str, f"{where}.")
        members = require(raw, "tools", list, f"{where}.")
        return [
            tool
            for j, member in enumerate(members)
            for tool in parse_tool(expect(member, dict, f"{where}.tools[{j}]"), f"{where}.tools[{j}]", ns)
        ]
    if kind == "function":
        name = require(raw, "name", str, f"{where}.")
        return [
            ToolDefinition(
                flat_name(namespace, name),
                optional(raw, "description", str, f"{where}."),
                optional(raw, "parameters", dict, f"{where}."),
                optional(raw, "strict", bool, f"{where}."),
                namespace=namespace,
            )
        ]
    if kind == "custom":
        name = require(raw, "name", str, f"{where}.")
        return [
            ToolDefinition(
                flat_name(namespace, name),
                optional(raw, "description", str, f"{where}."),
                _freeform_schema(optional(raw, "format", dict, f"{where}.")),
                client_kind="custom",
                namespace=namespace,
            )
        ]
    if kind == "local_shell":
        description = "Run a command on the user's machine (argv form) and return its output."
        return [ToolDefinition(LOCAL_SHELL, description, _LOCAL_SHELL_SCHEMA, client_kind="local_shell")]
    if kind == "tool_search":
        return [
            ToolDefinition(
                TOOL_SEARCH,
                optional(raw, "description", str, f"{where}."),
                optional(raw, "parameters", dict, f"{where}.") or _TOOL_SEARCH_SCHEMA,
                client_kind="tool_search",
            )
        ]
    raise invalid_request(f"Unsupported tool type {kind!r} in '{where}'.", param=f"{where}.type")


def is_client_executed(raw: dict[str, Any]) -> bool:
    """True for the tool types this module translates (``tool_search`` only when the client executes it)."""
    kind = raw.get("type")
    if kind == "tool_search":
        return raw.get("execution") == "client"
    return kind in KINDS


def _freeform_schema(fmt: dict[str, Any] | None) -> dict[str, Any]:
    description = "The tool's raw input, as plain text (not JSON)."
    if fmt is not None and fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
        syntax = fmt.get("syntax") or "lark"
        description += f" It must follow this {syntax} grammar:\n{fmt['definition']}"
    return {
        "type": "object",
        "properties": {FREEFORM_ARGUMENT: {"type": "string", "description": description}},
        "required": [FREEFORM_ARGUMENT],
    }


# -- history items -------------------------------------------------------------------------------------------


def parse_call(item: dict[str, Any], kind: str, where: str) -> ToolCall:
    """A ``custom_tool_call``, ``local_shell_call``, ``tool_search_call`` or namespaced ``function_call`` item
    as the function call other protocols know."""
    call_id = require(item, "call_id", str, f"{where}.")
    if kind == "custom_tool_call":
        namespace = optional(item, "namespace", str, f"{where}.")
        name = flat_name(namespace, require(item, "name", str, f"{where}."))
        arguments = _json.dumps_str({FREEFORM_ARGUMENT: require(item, "input", str, f"{where}.")})
        return ToolCall(call_id, name, arguments, extra=dict(item), client_kind="custom", namespace=namespace)
    if kind == "local_shell_call":
        action = require(item, "action", dict, f"{where}.")
        arguments = _json.dumps_str({k: v for k, v in action.items() if k != "type"})
        return ToolCall(call_id, LOCAL_SHELL, arguments, extra=dict(item), client_kind="local_shell")
    raw = item.get("arguments")
    search = _json.dumps_str(raw) if isinstance(raw, dict) else expect(raw, str, f"{where}.arguments")
    return ToolCall(call_id, TOOL_SEARCH, search, extra=dict(item), client_kind="tool_search")


def search_result_text(item: dict[str, Any], where: str) -> str:
    """A ``tool_search_output``'s result, as the text a function result carries: the tools it found."""
    tools = optional(item, "tools", list, f"{where}.") or []
    names = [t.get("name") for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
    return _json.dumps_str({"tools": names})


# -- calls back to the client --------------------------------------------------------------------------------


def tool_table(tools: list[ToolDefinition]) -> dict[str, ToolDefinition]:
    """The request's translated tools by the name the upstream calls them (plain functions are left out)."""
    return {t.name: t for t in tools if t.client_kind != "function" or t.namespace is not None}


def native_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str, tool: ToolDefinition
) -> dict[str, Any]:
    """The Responses item for an upstream function call of a translated tool."""
    kind: ClientToolKind = tool.client_kind
    bare = name.removeprefix(f"{tool.namespace}{NAMESPACE_SEPARATOR}") if tool.namespace else name
    item: dict[str, Any] = {"id": item_id, "status": status, "call_id": call_id}
    if kind == "custom":
        item.update(type="custom_tool_call", name=bare, input=_freeform_input(arguments))
    elif kind == "local_shell":
        item.update(type="local_shell_call", action={"type": "exec", **_object(arguments)})
    elif kind == "tool_search":
        item.update(type="tool_search_call", execution="client", arguments=_object(arguments))
    else:
        item.update(type="function_call", name=bare, arguments=arguments or "{}")
    if tool.namespace is not None and tool.namespace != DEFAULT_NAMESPACE:
        item["namespace"] = tool.namespace
    return item


def _freeform_input(arguments: str) -> str:
    decoded = _object(arguments)
    value = decoded.get(FREEFORM_ARGUMENT)
    # A model that answered with raw text instead of the one-argument object still meant that text.
    return value if isinstance(value, str) else arguments


def _object(arguments: str) -> dict[str, Any]:
    try:
        decoded = _json.loads(arguments or "{}")
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}
