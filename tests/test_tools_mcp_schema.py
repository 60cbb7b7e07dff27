"""Tool names and argument schemas as the LLMs get them."""

from __future__ import annotations

import pytest

from voice_agent_cli.errors import UsageError
from voice_agent_cli.tools.names import LLM_NAME, QualifiedName, ToolNames, llm_name
from voice_agent_cli.tools.schema import clean_schema


@pytest.mark.parametrize(
    ("server", "tool", "expected"),
    [
        ("va", "now", "va__now"),
        ("git-hub", "search.issues", "git_hub__search_issues"),
        ("9lives", "x", "_9lives__x"),
        ("s", "a/b c", "s__a_b_c"),
    ],
)
def test_llm_names_are_valid_function_names(server: str, tool: str, expected: str) -> None:
    assert llm_name(server, tool) == expected
    assert LLM_NAME.match(expected)


def test_long_names_are_cut_to_64_characters_and_stay_unique() -> None:
    names = ToolNames(
        [QualifiedName("server", "a" * 80 + "1"), QualifiedName("server", "a" * 80 + "2")]
    )
    first = names.llm(QualifiedName("server", "a" * 80 + "1"))
    second = names.llm(QualifiedName("server", "a" * 80 + "2"))
    assert first != second
    assert LLM_NAME.match(first) and LLM_NAME.match(second)


def test_names_that_sanitise_alike_are_told_apart() -> None:
    dotted, underscored = QualifiedName("s", "a.b"), QualifiedName("s", "a_b")
    names = ToolNames([dotted, underscored])
    assert names.llm(dotted) == "s__a_b"
    assert names.llm(underscored).startswith("s__a_b_")
    assert names.qualified(names.llm(underscored)) == underscored
    # People's names work too.
    assert names.qualified("s.a.b") == dotted
    assert names.qualified("s__nope") is None


@pytest.mark.parametrize("text", ["now", ".now", "va.", ""])
def test_qualified_names_need_a_server_and_a_tool(text: str) -> None:
    with pytest.raises(UsageError, match=r"SERVER\.TOOL"):
        QualifiedName.parse(text)


def test_schemas_are_cleaned_for_function_declarations() -> None:
    raw = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "searchArguments",
        "type": "object",
        "additionalProperties": False,
        "$defs": {
            "Filter": {
                "title": "Filter",
                "type": "object",
                "properties": {"kind": {"const": "issue"}, "open": {"type": "boolean"}},
                "required": ["kind"],
            }
        },
        "properties": {
            "query": {"type": "string", "title": "Query", "format": "uri", "minLength": 1},
            "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
            "when": {"type": ["string", "null"], "format": "date-time"},
            "filter": {"$ref": "#/$defs/Filter", "description": "what to match"},
            "tags": {"type": "array", "items": {"type": "string", "examples": ["a"]}},
        },
        "required": ["query", "missing"],
    }
    assert clean_schema(raw) == {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "Query", "minLength": 1},
            "limit": {"type": "integer"},
            "when": {"type": "string", "format": "date-time"},
            "filter": {
                "type": "object",
                "description": "what to match",
                "properties": {
                    "kind": {"type": "string", "enum": ["issue"]},
                    "open": {"type": "boolean"},
                },
                "required": ["kind"],
            },
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["query"],
    }


@pytest.mark.parametrize("raw", [None, {}, {"type": "object"}, "garbage"])
def test_any_schema_becomes_an_object_schema(raw: object) -> None:
    assert clean_schema(raw) == {"type": "object", "properties": {}}


def test_recursive_schemas_stop() -> None:
    raw = {
        "type": "object",
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        "properties": {"head": {"$ref": "#/$defs/Node"}},
    }
    cleaned = clean_schema(raw)
    depth, node = 0, cleaned["properties"]["head"]
    while node.get("properties"):
        node, depth = node["properties"]["next"], depth + 1
    assert depth < 10
