"""No silent empty replies: blocked, stopped and empty Gemini responses, and dropped streams.

The real google-genai SDK talks to the local Gemini-compatible server, which
sends what Gemini sends: ``promptFeedback.blockReason`` with no candidates, a
candidate stopped by SAFETY / RECITATION / OTHER, no candidates at all, or
a stream cut mid-reply.
"""

from __future__ import annotations

import logging

import pytest

from tests.cli_helpers import json_lines, run_va
from tests.gemini_fixtures import TEST_KEY
from voice_agent_cli.contracts.events import TextDelta
from voice_agent_cli.contracts.messages import ChatMessage
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.errors import EXIT_NO_ANSWER, LLMNoAnswer
from voice_agent_cli.llm.base import LLMRequest, TextChunk
from voice_agent_cli.llm.gemini import GeminiLLM
from voice_agent_cli.llm.settings import DEFAULT_GEMINI_MODEL
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini

GEMINI_DEFAULT = f"gemini:{DEFAULT_GEMINI_MODEL}"

ASK = LLMRequest(system="s", messages=[ChatMessage(role="user", content="question")])


@pytest.mark.parametrize(
    ("reply", "reason", "message"),
    [
        (script.blocked("SAFETY"), "SAFETY", "Gemini blocked the request (SAFETY)"),
        (
            script.blocked("OTHER", "Prompt not allowed"),
            "OTHER",
            "Gemini blocked the request (OTHER): Prompt not allowed",
        ),
        (script.no_answer("SAFETY"), "SAFETY", "Gemini gave no answer (SAFETY)"),
        (script.no_answer("RECITATION"), "RECITATION", "Gemini gave no answer (RECITATION)"),
        (script.no_answer("OTHER"), "OTHER", "Gemini gave no answer (OTHER)"),
        (script.no_answer(None), "NO_CANDIDATES", "Gemini gave no answer (no candidates)"),
        (script.text("", chunks=1), "EMPTY", "Gemini gave an empty reply"),
        (
            script.no_answer("MAX_TOKENS"),
            "MAX_TOKENS",
            "Gemini reached max_output_tokens before writing any text",
        ),
    ],
)
async def test_a_response_with_nothing_to_say_is_an_error_with_its_reason(
    fake_gemini: FakeGemini,
    gemini: GeminiLLM,
    caplog: pytest.LogCaptureFixture,
    reply: script.Reply,
    reason: str,
    message: str,
) -> None:
    fake_gemini.enqueue(reply)
    with caplog.at_level(logging.WARNING, logger="va.llm"), pytest.raises(LLMNoAnswer) as raised:
        await gemini.complete(ASK)
    assert (raised.value.reason, str(raised.value)) == (reason, message)
    assert raised.value.exit_code == EXIT_NO_ANSWER
    assert len(fake_gemini.requests) == 1  # not retried: asking again gets the same
    assert [record.getMessage() for record in caplog.records] == [message]


async def test_a_reply_stopped_midway_keeps_its_text_and_says_why(
    fake_gemini: FakeGemini, gemini: GeminiLLM
) -> None:
    fake_gemini.enqueue(script.text("Here is the first part", chunks=2, finish_reason="SAFETY"))
    said: list[str] = []
    with pytest.raises(LLMNoAnswer, match=r"Gemini stopped its reply \(SAFETY\)"):
        async for chunk in gemini.stream(ASK):
            assert isinstance(chunk, TextChunk)
            said.append(chunk.text)
    assert "".join(said) == "Here is the first part"


async def test_a_reply_cut_by_max_tokens_is_a_normal_answer(
    fake_gemini: FakeGemini, gemini: GeminiLLM
) -> None:
    fake_gemini.enqueue(script.text("A long answer that", finish_reason="MAX_TOKENS"))
    text, _ = await gemini.complete(ASK)
    assert text == "A long answer that"


async def test_an_empty_reply_from_any_llm_fails_the_turn_and_is_forgotten() -> None:
    agent = Agent(FakeLLM(["   "], model="quiet"), AgentOptions(system_prompt="s"))
    with pytest.raises(LLMNoAnswer, match="fake:quiet gave an empty reply") as raised:
        async for _ in agent.run_turn("hello?"):
            pass
    assert raised.value.turn_id  # the failed turn is named
    assert agent.conversation.messages == ()


@pytest.fixture
def cli_env(gemini_env: dict[str, str]) -> dict[str, str]:
    return {**gemini_env, "VA_LLM__MAX_RETRIES": "0"}


def test_va_chat_says_a_blocked_answer_was_blocked_and_exits_5(
    fake_gemini: FakeGemini, cli_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.blocked("SAFETY"))
    result = run_va("chat", "-m", "something the filter refuses", env=cli_env)
    assert result.exit_code == EXIT_NO_ANSWER == 5
    assert result.stdout == ""
    assert "va: Gemini blocked the request (SAFETY)" in result.stderr


def test_va_chat_json_reports_a_blocked_answer_as_one_object(
    fake_gemini: FakeGemini, cli_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.no_answer("RECITATION"))
    result = run_va("chat", "--json", "-m", "recite a song", env=cli_env)
    assert result.exit_code == 5
    (turn,) = json_lines(result.stdout)
    assert turn["reply"] == "" and turn["user"] == "recite a song"
    assert turn["error"] == "Gemini gave no answer (RECITATION)"
    assert (turn["reason"], turn["exit_code"], turn["llm"]) == (
        "RECITATION",
        5,
        GEMINI_DEFAULT,
    )
    assert turn["turn_id"]


def test_a_stream_that_drops_mid_reply_still_prints_one_json_object(
    fake_gemini: FakeGemini, cli_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.drop("The answer begins here and then", after_chunks=2, chunks=4))
    result = run_va("chat", "--json", "-m", "tell me", env=cli_env)
    assert result.exit_code == 1
    (turn,) = json_lines(result.stdout)
    assert turn["reply"] == "The answer begins here and then"[: len(turn["reply"])]
    assert turn["reply"] and turn["interrupted"] is True
    assert "cut off mid-reply" in turn["error"]
    assert turn["error_type"] == "LLMServerError"


def test_text_mode_ends_the_partial_line_before_the_error(
    fake_gemini: FakeGemini, cli_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.text("Half an answer", finish_reason="SAFETY"))
    result = run_va("chat", "-m", "go on", env=cli_env)
    assert result.exit_code == 5
    assert result.stdout == "Half an answer\n"
    assert "va: Gemini stopped its reply (SAFETY)" in result.stderr


async def test_the_voice_layer_hears_no_empty_reply(fake_gemini: FakeGemini) -> None:
    """The agent's events for a blocked turn carry no text to speak."""
    fake_gemini.enqueue(script.blocked())
    from voice_agent_cli.contracts.secrets import Secret
    from voice_agent_cli.resilience import RetryPolicy

    llm = GeminiLLM(api_key=Secret(TEST_KEY, "GEMINI_API_KEY"), retry=RetryPolicy(0))
    agent = Agent(llm, AgentOptions(system_prompt="s"))
    events = []
    with pytest.raises(LLMNoAnswer):
        async for event in agent.run_turn("blocked question"):
            events.append(event)
    assert not [e for e in events if isinstance(e, TextDelta)]
    await llm.aclose()
