"""Path syntax: keys, numeric segments, indexes, wildcards, type filters, attributes of unified objects."""

from __future__ import annotations

import pytest

from asgi_rotator.errors import FieldCachePathError
from asgi_rotator.pipeline.paths import compile_path
from asgi_rotator.protocols.unified import (
    Message,
    Reasoning,
    StreamEvent,
    Text,
    ToolCall,
    ToolResult,
    UnifiedRequest,
    UnifiedResponse,
)


def doc():
    return {
        "a": [{"b": 1, "type": "x"}, {"b": 2, "type": "y"}, {"b": 3, "type": "x"}],
        "c": {"d": "x", "0": "zero", "n": None},
    }


def test_extract_every_match_in_order():
    d = doc()
    assert compile_path("a[*].b").extract(d) == [1, 2, 3]
    assert compile_path("a.*.b").extract(d) == [1, 2, 3]
    assert compile_path("a[-1].b").extract(d) == [3]
    assert compile_path("a[0].b").extract(d) == [1]
    assert compile_path("a.1.b").extract(d) == [2]  # a numeric segment indexes a list
    assert compile_path("c.0").extract(d) == ["zero"]  # ... and names a dict key
    assert compile_path("c.*").extract(d) == ["x", "zero"]  # nulls match nothing
    assert compile_path("[0]").extract([7, 8]) == [7]


def test_missing_paths_match_nothing():
    d = doc()
    for path in ("a[5].b", "a[-9]", "missing.key", "c.d.e", "c.n", "a.b", "c[0]"):
        assert compile_path(path).extract(d) == [], path


def test_type_filter_narrows_a_list_and_filters_items():
    d = doc()
    assert compile_path("a[type=x]").extract(d) == [[d["a"][0], d["a"][2]]]
    assert compile_path("a[type=x][-1].b").extract(d) == [3]
    assert compile_path("a[type=x][*].b").extract(d) == [1, 3]
    assert compile_path("a[*][type=y].b").extract(d) == [2]  # on a single item it keeps or drops it
    assert compile_path("a[type=nothing]").extract(d) == []


def test_attributes_of_unified_objects_and_their_kinds():
    message = Message(
        "assistant",
        [
            Reasoning("hm", signature="sig-a", signature_family="anthropic"),
            Text("hello"),
            ToolCall("call_1", "f", "{}", signature="sig-g", signature_family="gemini"),
            ToolCall("call_2", "g"),
        ],
    )
    request = UnifiedRequest("m", [Message("user", [Text("hi")]), message])
    assert compile_path("messages[-1].parts[type=tool_call][*].id").extract(request) == ["call_1", "call_2"]
    assert compile_path("messages[*].parts[type=tool_call][*].signature").extract(request) == ["sig-g"]
    assert compile_path("messages[1].parts[type=reasoning][0].signature").extract(request) == ["sig-a"]
    assert compile_path("messages[0].text").extract(request) == ["hi"]  # properties read too
    response = UnifiedResponse("r", "m", [Text("x"), ToolCall("c", "f")])
    assert compile_path("tool_calls[0].id").extract(response) == ["c"]
    assert compile_path("parts[type=text][0].text").extract(response) == ["x"]
    result = ToolResult("c", [Text("ok")])
    assert compile_path("[type=tool_result].tool_call_id").extract([result]) == []  # a filter keeps a list
    assert compile_path("[type=tool_result][0].tool_call_id").extract([result]) == ["c"]
    assert compile_path("[type=tool_call_start].id").extract(StreamEvent("tool_call_start", id="c")) == ["c"]
    assert compile_path("__class__").extract(response) == []  # no private attributes


def test_inject_creates_only_unambiguous_dict_containers():
    d = doc()
    assert compile_path("c.new.deep").inject(d, 3) and d["c"]["new"] == {"deep": 3}
    assert compile_path("a[1].b").inject(d, 20) and d["a"][1]["b"] == 20
    assert compile_path("a[-1].extra").inject(d, "e") and d["a"][2]["extra"] == "e"
    assert not compile_path("fresh.list[0].x").inject(d, 1) and "fresh" not in d  # a list of unknown length
    assert not compile_path("fresh.0.x").inject(d, 1) and "fresh" not in d  # may be an index
    assert not compile_path("a[*].b").inject(d, 9)  # never through *
    assert not compile_path("a.*").inject(d, 9)
    assert compile_path("a[type=x][-1].b").inject(d, 30) and d["a"][2]["b"] == 30  # a filtered item is real
    assert not compile_path("a[type=x][0]").inject(d, {})  # ... the filtered list is not
    assert compile_path("a[type=x][0].new.deep").inject(d, 1) and d["a"][0]["new"] == {"deep": 1}
    assert not compile_path("a[type=x][5].b").inject(d, 1)
    assert not compile_path("a[7].b").inject(d, 1)


def test_inject_when_missing_only():
    d = doc()
    assert not compile_path("c.d").inject(d, "y", when_missing_only=True) and d["c"]["d"] == "x"
    assert compile_path("c.n").inject(d, "filled", when_missing_only=True) and d["c"]["n"] == "filled"  # null
    assert compile_path("c.d").inject(d, "y") and d["c"]["d"] == "y"


def test_inject_into_unified_objects():
    call = ToolCall("call_1", "f")
    request = UnifiedRequest("m", [Message("assistant", [call])])
    assert compile_path("messages[0].parts[type=tool_call][0].signature").inject(request, "s")
    assert call.signature == "s"
    assert compile_path("metadata.k").inject(request, "v") and request.metadata == {"k": "v"}  # a dict field
    assert not compile_path("reasoning.effort").inject(request, "high")  # not a dict field: no container
    assert not compile_path("messages[0].nonexistent").inject(request, 1)
    assert not compile_path("tool_calls").inject(UnifiedResponse("r", "m"), [])  # a property is read-only


def test_delete():
    d = doc()
    assert compile_path("a[*].type").delete(d) == 3 and all("type" not in item for item in d["a"])
    assert compile_path("a[0]").delete(d) == 1 and len(d["a"]) == 2
    assert compile_path("c.missing").delete(d) == 0


@pytest.mark.parametrize("bad", ["", "a..b", "a[x]", "a[1", "a]", ".a", "a.", "a[0]b", "a[type=]", "a.[0]", "a[]"])
def test_malformed_paths_fail_when_compiled(bad):
    with pytest.raises(FieldCachePathError):
        compile_path(bad)


def test_leaf():
    assert compile_path("a.previous_response_id").leaf == "previous_response_id"
    assert compile_path("a[0]").leaf is None
