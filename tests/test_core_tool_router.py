"""Tool detection: va's rules pick the tool (or none) before any model is asked."""

from __future__ import annotations

import pytest

from voice_agent_cli.contracts.events import TurnCompleted
from voice_agent_cli.contracts.messages import ToolSpec
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.core.tool_router import NO_LIVE_DATA, REFUSE_HARM, ToolRouter
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing.fake_llm import tool_call
from voice_agent_cli.tools.base import FunctionTools
from voice_agent_cli.tools.calculator import evaluate
from voice_agent_cli.tools.places import time_zone_of
from voice_agent_cli.tools.spoken_arithmetic import to_expression


def va_tools() -> list[ToolSpec]:
    """va's own tools, as its MCP server names and describes them."""

    def spec(name: str, *arguments: str) -> ToolSpec:
        properties = {argument: {"type": "string"} for argument in arguments}
        return ToolSpec(f"va__{name}", name, {"type": "object", "properties": properties})

    return [
        spec("now", "timezone"),
        spec("calculate", "expression"),
        spec("add_note", "text"),
        spec("list_notes", "limit"),
        spec("search_notes", "query"),
        spec("delete_note", "note_id"),
    ]


@pytest.mark.parametrize(
    ("said", "value"),
    [
        ("What's 12 times 7?", 84),
        ("What is fifteen percent of two hundred forty?", 36),
        ("What's half of ninety?", 45),
        ("What is a third of ninety?", 30),
        ("what is two thirds of 90", 60),
        ("What is 1,234 times 5,678?", 7006652),
        ("What is the square root of 144?", 12),
        ("What is 2 to the power of 10?", 1024),
        ("what is one hundred and five divided by five", 21),
        ("Seven plus five?", 12),
        ("what's a 15 percent tip on 80 dollars", 12),
        ("calculate (3 + 4) * 5", 35),
        ("nine squared", 81),
        ("What's 6 \u00d7 7", 42),
    ],
)
def test_arithmetic_in_words_becomes_an_expression_the_calculator_evaluates(
    said: str, value: float
) -> None:
    expression = to_expression(said)
    assert expression is not None
    assert evaluate(expression) == pytest.approx(value)


@pytest.mark.parametrize(
    "said",
    [
        "What is 2 plus 2 in binary?",
        "What is 42?",
        "Who won the world cup in 2018?",
        "And what is that divided by 2?",
        "How many legs does a spider have?",
    ],
)
def test_what_is_not_all_arithmetic_gives_no_expression(said: str) -> None:
    assert to_expression(said) is None


def test_places_people_say_map_to_time_zones() -> None:
    assert time_zone_of("Tokyo") == "Asia/Tokyo"
    assert time_zone_of("new york") == "America/New_York"
    assert time_zone_of("San Francisco") == "America/Los_Angeles"
    assert time_zone_of("India") == "Asia/Kolkata"
    assert time_zone_of("Narnia") is None
    assert time_zone_of("the United States") is None  # several zones: not guessed


@pytest.mark.parametrize(
    ("said", "tool", "arguments", "why"),
    [
        ("What's 12 times 7?", "va__calculate", {"expression": "12*7"}, "rule: arithmetic"),
        (
            "What time is it in Tokyo?",
            "va__now",
            {"timezone": "Asia/Tokyo"},
            "rule: time in a place",
        ),
        (
            "What's the time in London right now?",
            "va__now",
            {"timezone": "Europe/London"},
            "rule: time in a place",
        ),
        ("What year is it?", "va__now", {}, "rule: the date or time"),
        (
            "Remember that my bike lock code is 2580.",
            "va__add_note",
            {"text": "My bike lock code is 2580"},
            "rule: save a note",
        ),
        (
            "Remind me to call mum on Sunday",
            "va__add_note",
            {"text": "Call mum on Sunday"},
            "rule: save a note",
        ),
        ("What are my notes?", "va__list_notes", {}, "rule: read the notes"),
        ("What did I ask you to remember?", "va__list_notes", {}, "rule: read the notes"),
        (
            "Search my notes for coffee",
            "va__search_notes",
            {"query": "coffee"},
            "rule: search the notes",
        ),
        ("Delete note three", "va__delete_note", {"note_id": 3}, "rule: delete a note"),
    ],
)
def test_rules_call_vas_own_tools(
    said: str, tool: str, arguments: dict[str, object], why: str
) -> None:
    decision = ToolRouter().decide(said, va_tools())
    assert decision is not None and decision.call is not None
    assert (decision.call.name, decision.call.arguments, decision.why) == (tool, arguments, why)


@pytest.mark.parametrize(
    ("said", "why"),
    [
        ("Who wrote Romeo and Juliet?", "rule: no tool needed"),
        ("How many legs does a spider have?", "rule: no tool needed"),
        ("What colour do you get when you mix blue and yellow?", "rule: no tool needed"),
        ("How many hearts does an octopus have?", "rule: no tool needed"),
        ("Tell me a joke", "rule: no tool needed"),
        ("How are you doing today?", "rule: chit-chat"),
        ("Good morning!", "rule: chit-chat"),
        ("How do you say thank you in Spanish?", "rule: translation"),
        ("Translate good morning into French", "rule: translation"),
        ("What's the weather like in London?", "rule: live data va cannot know"),
        ("Will it rain in Paris tomorrow?", "rule: live data va cannot know"),
        ("What are tomorrow's lottery numbers?", "rule: live data va cannot know"),
    ],
)
def test_rules_answer_directly_when_no_tool_fits(said: str, why: str) -> None:
    decision = ToolRouter().decide(said, va_tools())
    assert decision is not None
    assert decision.call is None and decision.why == why


def test_a_harmful_request_is_answered_with_a_refusal_hint() -> None:
    decision = ToolRouter().decide("Give me step by step instructions to build a bomb", va_tools())
    assert decision is not None and decision.call is None
    assert (decision.why, decision.hint) == ("rule: harmful request", REFUSE_HARM)
    harmless = ToolRouter().decide("Who invented dynamite?", va_tools())
    assert harmless is not None and harmless.hint is None


def test_live_data_questions_carry_a_hint_for_the_answer() -> None:
    decision = ToolRouter().decide("What's the weather in Rome?", va_tools())
    assert decision is not None and decision.hint == NO_LIVE_DATA


@pytest.mark.parametrize(
    "said",
    [
        "What time is it in Narnia?",  # a place the rules do not know
        "What day is it tomorrow?",
        "And what is that divided by 2?",
        "What is my name?",
        "How many hours until midnight?",
    ],
)
def test_the_model_decides_when_the_rules_are_unsure(said: str) -> None:
    assert ToolRouter().decide(said, va_tools()) is None


def test_an_unknown_tool_leaves_general_questions_to_the_model() -> None:
    tools = [*va_tools(), ToolSpec("github__search_issues", "Search GitHub issues.")]
    router = ToolRouter()
    assert router.decide("Who wrote Romeo and Juliet?", tools) is None
    arithmetic = router.decide("What's 12 times 7?", tools)
    assert arithmetic is not None and arithmetic.why == "rule: arithmetic"


def test_rules_only_use_tools_that_are_offered() -> None:
    only_clock = [spec for spec in va_tools() if spec.name == "va__now"]
    assert ToolRouter().decide("What's 12 times 7?", only_clock) is None


def calculator() -> FunctionTools:
    tools = FunctionTools()
    tools.add(
        lambda expression: str(evaluate(expression)),
        name="calculate",
        description="Arithmetic.",
        parameters={"type": "object", "properties": {"expression": {"type": "string"}}},
    )
    return tools


async def test_the_agent_runs_a_ruled_tool_call_without_asking_the_model_first() -> None:
    llm = FakeLLM(["12 times 7 is 84."])
    agent = Agent(
        llm, AgentOptions(system_prompt="s"), tools=calculator(), tool_router=ToolRouter()
    )
    done = await agent.reply("What is 12 times 7?")
    assert done.tool_calls == ("calculate",)
    assert done.details["tool_decisions"] == [
        {"tool": "calculate", "arguments": {"expression": "12*7"}, "why": "rule: arithmetic"}
    ]
    # One request only: the model answered with the tool's result in hand.
    assert len(llm.requests) == 1
    assert llm.requests[0].messages[-1].content == "84"
    assert done.as_json()["tool_decisions"][0]["why"] == "rule: arithmetic"


async def test_a_question_that_needs_no_tool_reaches_the_model_without_tools() -> None:
    llm = FakeLLM(["Shakespeare."])
    agent = Agent(
        llm, AgentOptions(system_prompt="s"), tools=calculator(), tool_router=ToolRouter()
    )
    done = await agent.reply("Who wrote Hamlet?")
    assert not llm.requests[0].allow_tools
    assert done.details["tool_decisions"] == [
        {"tool": None, "arguments": {}, "why": "rule: no tool needed"}
    ]


async def test_a_live_data_question_tells_the_model_what_it_cannot_know() -> None:
    llm = FakeLLM(["I can't know the weather."])
    agent = Agent(
        llm, AgentOptions(system_prompt="s"), tools=calculator(), tool_router=ToolRouter()
    )
    await agent.reply("What's the weather in Oslo?")
    assert llm.requests[0].system.endswith(NO_LIVE_DATA)


async def test_when_the_rules_are_unsure_the_models_choice_is_recorded() -> None:
    llm = FakeLLM([[tool_call("calculate", expression="84/2")], "That is 42."])
    agent = Agent(
        llm, AgentOptions(system_prompt="s"), tools=calculator(), tool_router=ToolRouter()
    )
    done = await agent.reply("And what is that divided by 2?")
    assert llm.requests[0].allow_tools
    assert done.details["tool_decisions"] == [
        {"tool": "calculate", "arguments": {"expression": "84/2"}, "why": "model"}
    ]
    events = [e async for e in agent.run_turn("What is my name?")]
    completed = events[-1]
    assert isinstance(completed, TurnCompleted)
    assert completed.details["tool_decisions"] == [{"tool": None, "arguments": {}, "why": "model"}]


async def test_without_a_router_the_model_decides_every_time() -> None:
    llm = FakeLLM(["Shakespeare."])
    agent = Agent(llm, AgentOptions(system_prompt="s"), tools=calculator())
    done = await agent.reply("Who wrote Hamlet?")
    assert llm.requests[0].allow_tools
    assert done.details["tool_decisions"] == [{"tool": None, "arguments": {}, "why": "model"}]


def test_the_models_argument_step_sees_the_exchange_a_follow_up_refers_to() -> None:
    from voice_agent_cli.contracts.messages import ChatMessage
    from voice_agent_cli.llm.local import _argument_messages, _previous_exchange

    history = [
        ChatMessage(role="user", content="What is 12 times 7?"),
        ChatMessage(role="assistant", content="It is 84."),
        ChatMessage(role="user", content="And what is that divided by 2?"),
    ]
    before = _previous_exchange(history)
    assert before == "user: What is 12 times 7?\nassistant: It is 84."
    system, user = _argument_messages(va_tools()[1], history[-1].content, before)
    assert system["content"].endswith(before)
    assert user == {"role": "user", "content": "And what is that divided by 2?"}
    assert _previous_exchange(history[:1]) == ""
