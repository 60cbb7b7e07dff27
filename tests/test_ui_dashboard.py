"""The live dashboard, rendered to a StringIO console; plain lines when not on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from voice_agent_cli.contracts.turns import BufferHit, TurnContext
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.observe.metrics import Metrics
from voice_agent_cli.observe.turns import instrument
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.ui.dashboard import LiveDashboard, render


def text_of(renderable: object, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


class Greeter:
    async def lookup(self, context: TurnContext) -> BufferHit | None:
        return BufferHit("Hello!", "prebuffered") if context.text == "hello" else None

    async def store(self, context: TurnContext, reply: str) -> None:
        return None


async def measured() -> Metrics:
    registry = Metrics()
    agent = Agent(FakeLLM(), AgentOptions(system_prompt="test"), buffer=Greeter())
    instrument(agent, registry)
    for text in ("hello", "what is new?", "hello", "tell me a joke"):
        await agent.reply(text)
    registry.circuit("llm:gemini:gemini-3.5-flash-lite", "closed")
    registry.circuit("llm:gemini:gemini-3.5-flash-lite", "open", "5 consecutive failures")
    registry.circuit("mcp:va", "closed")
    registry.circuit("expert:physicist", "half_open")
    return registry


async def test_the_dashboard_shows_latency_hit_rate_circuits_and_events() -> None:
    registry = await measured()
    output = text_of(render(registry.as_json(), title="va chat"))

    assert "va chat" in output and "turns 4" in output and "errors 0" in output
    # latency panel: every core stage has a row; measured ones have figures
    for stage in ("e2e_latency", "llm_ttft", "tts_ttfb", "total", "buffer_lookup"):
        assert stage in output
    latency = [line.split("│")[1] for line in output.splitlines() if line.startswith("│")]
    total_row = next(row for row in latency if row.split()[:1] == ["total"])
    assert total_row.split()[-1] == "4"  # n
    assert next(row for row in latency if "tts_ttfb" in row).split()[1:] == ["-"] * 5
    # buffer panel: 2 of 4 lookups answered by the pre-buffered layer
    prebuffered = next(line for line in output.splitlines() if "prebuffered" in line)
    assert "2" in prebuffered and "50 %" in prebuffered
    all_row = next(line for line in output.splitlines() if " all " in line)
    assert "50 %" in all_row
    # circuits panel: whatever states were reported
    assert "llm:gemini:gemini" in output and "open" in output
    assert "mcp:va" in output and "half_open" in output
    # recent events: turns and the circuit transition
    assert "llm:gemini:gemini-3.5-flash-lite: closed -> open (5 consecutive failures)" in output
    assert output.count("turn ") >= 4


def test_an_empty_dashboard_keeps_its_shape() -> None:
    empty = text_of(render(Metrics().as_json()))
    assert "none reported yet" in empty
    assert "hit rate" in empty
    # Fixed height: an empty view and a busy one take the same number of lines, so a
    # live refresh redraws in place.
    registry = Metrics()
    for index in range(30):
        registry.event(f"event {index}")
    busy = text_of(render(registry.as_json()))
    assert len(busy.splitlines()) == len(empty.splitlines())
    assert "event 29" in busy and "event 21" not in busy


def test_not_on_a_terminal_it_prints_one_plain_line_per_event() -> None:
    registry = Metrics()
    console = Console(file=io.StringIO(), width=100)
    with LiveDashboard(registry, console) as view:
        assert not view.live
        registry.event("turn abc: llm, 420 ms", kind="turn")
        registry.circuit("mcp:va", "closed")
        registry.circuit("mcp:va", "open", "3 failures")
    registry.event("after the view closed")
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert [line.split(" ", 1)[1] for line in lines] == [
        "[turn] turn abc: llm, 420 ms",
        "[circuit] mcp:va: closed -> open (3 failures)",
    ]
    assert "\x1b[" not in console.file.getvalue()  # type: ignore[attr-defined]


def test_on_a_terminal_it_is_a_live_view(monkeypatch: object) -> None:
    import sys

    registry = Metrics()
    console = Console(file=io.StringIO(), width=100, force_terminal=True)
    fake_tty = io.StringIO()
    fake_tty.isatty = lambda: True  # type: ignore[method-assign]
    original = sys.stdout
    sys.stdout = fake_tty
    try:
        with LiveDashboard(registry, console, title="va talk", refresh_per_second=1) as view:
            assert view.live
            registry.observe("e2e_latency", 512.0)
            view.refresh()
    finally:
        sys.stdout = original
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert "va talk" in output and "512" in output
