"""va's own MCP server: its tools' logic, and the whole server over stdio."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.mcp_helpers import mcp, shipped
from voice_agent_cli.contracts.messages import ToolCall
from voice_agent_cli.tools.calculator import CalculatorError, evaluate, format_number
from voice_agent_cli.tools.clock import UnknownTimeZone, describe, now
from voice_agent_cli.tools.mcp import MCPTools
from voice_agent_cli.tools.notes import NoteError, NotesStore


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2 + 2", "4"),
        ("(12.5 * 3) / 4", "9.375"),
        ("2^10", "1024"),
        ("7 // 2 + 7 % 2", "4"),
        ("sqrt(16) + abs(-2)", "6"),
        ("round(pi, 3)", "3.142"),
        ("max(1, 5, 3) \u00d7 2", "10"),
        ("0.1 + 0.2", "0.3"),
        ("-(3 ** 2)", "-9"),
    ],
)
def test_the_calculator_computes(expression: str, value: str) -> None:
    assert format_number(evaluate(expression)) == value


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('true')", "not allowed"),
        ("open('/etc/passwd')", "not allowed"),
        ("(1).__class__", "not allowed"),
        ("x + 1", "not allowed"),
        ("'a' * 3", "not allowed"),
        ("[1, 2]", "not allowed"),
        ("1 / 0", "division by zero"),
        ("9 ** 9 ** 9", "limited"),
        ("2 ** 5000", "too large"),
        ("sqrt(-1)", "no value"),
        ("2 +", "cannot read"),
        ("", "empty"),
        ("1+" * 200 + "1", "longer than"),
    ],
)
def test_the_calculator_refuses_anything_but_arithmetic(expression: str, message: str) -> None:
    with pytest.raises(CalculatorError, match=message):
        evaluate(expression)


def test_the_clock_tells_the_time_in_a_time_zone() -> None:
    instant = datetime(2026, 1, 15, 12, 30, tzinfo=UTC)
    moment = now("Asia/Tokyo", at=instant)
    assert moment["time"] == "21:30"
    assert moment["utc_offset"] == "+09:00"
    assert describe(moment) == "Thursday 15 January 2026, 21:30 (Asia/Tokyo, UTC+09:00)"
    with pytest.raises(UnknownTimeZone, match="Europe/Paris"):
        now("Mars/Olympus_Mons")


def test_notes_are_added_listed_searched_and_deleted(tmp_path: Path) -> None:
    store = NotesStore(tmp_path / "notes.sqlite3")
    milk = store.add("Buy milk and eggs")
    store.add("Call Ada about the 50% discount")
    assert [n.text for n in store.latest()] == [
        "Call Ada about the 50% discount",
        "Buy milk and eggs",
    ]
    assert [n.id for n in store.search("MILK eggs")] == [milk.id]
    assert [n.text for n in store.search("50%")] == ["Call Ada about the 50% discount"]
    assert store.search("5_%") == []  # LIKE wildcards are taken literally
    assert store.delete(milk.id) and not store.delete(milk.id)
    assert len(store.latest()) == 1
    with pytest.raises(NoteError):
        store.add("   ")


def call(name: str, **arguments: object) -> ToolCall:
    return ToolCall(id="t", name=name, arguments=dict(arguments))


async def test_the_server_over_stdio_keeps_notes_in_va_home(isolated_env: Path) -> None:
    async with MCPTools(mcp({"va": shipped()})) as tools:
        specs = {spec.name: spec for spec in tools.specs()}
        assert set(specs) == {
            "va__now",
            "va__calculate",
            "va__add_note",
            "va__list_notes",
            "va__search_notes",
            "va__delete_note",
        }
        assert specs["va__calculate"].parameters["required"] == ["expression"]

        answer = await tools.call(call("va__calculate", expression="6 * 7"))
        assert (answer.text, answer.structured) == (
            "6 * 7 = 42",
            {"expression": "6 * 7", "result": 42},
        )
        refused = await tools.call(call("va__calculate", expression="__import__('os')"))
        assert refused.is_error and "not allowed" in refused.text

        tokyo = await tools.call(call("va__now", timezone="Asia/Tokyo"))
        assert "(Asia/Tokyo, UTC+09:00)" in tokyo.text
        assert tokyo.structured is not None and tokyo.structured["utc_offset"] == "+09:00"
        assert (await tools.call(call("va__now", timezone="Nowhere/City"))).is_error

        saved = await tools.call(call("va__add_note", text="Water the plants"))
        assert saved.text == "Saved note 1: Water the plants"
        found = await tools.call(call("va__search_notes", query="plants"))
        assert found.text == "Note 1: Water the plants"
        assert (await tools.call(call("va__delete_note", note_id=1))).text == "Deleted note 1."
        listed = await tools.call(call("va__list_notes"))
        assert listed.text == "There are no notes yet."
        missing = await tools.call(call("va__delete_note", note_id=1))
        assert missing.is_error and missing.text == "there is no note 1"
    assert (isolated_env / "notes.sqlite3").exists()
