"""Gemini through the real google-genai SDK, against a local Gemini-compatible server."""

from __future__ import annotations

import asyncio

import pytest

from tests.gemini_fixtures import TEST_KEY
from voice_agent_cli.contracts.events import ToolCallFinished, TurnCompleted
from voice_agent_cli.contracts.messages import ChatMessage, ToolSpec
from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMConnectionError,
    LLMError,
    LLMModelNotFound,
    LLMQuotaError,
    LLMServerError,
    LLMTimeout,
)
from voice_agent_cli.llm.base import LLMRequest, TextChunk
from voice_agent_cli.llm.gemini import GeminiLLM
from voice_agent_cli.resilience import RetryPolicy
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini
from voice_agent_cli.tools.base import FunctionTools


def ask(text: str, **kwargs: object) -> LLMRequest:
    return LLMRequest(
        system="You are a test.",
        messages=[ChatMessage(role="user", content=text)],
        **kwargs,  # type: ignore[arg-type]
    )


async def test_streams_text_chunks(gemini: GeminiLLM, fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(script.text("Paris is the capital of France.", chunks=4))
    chunks = [c async for c in gemini.stream(ask("Capital of France?", temperature=0.7))]
    assert len(chunks) == 4
    assert "".join(c.text for c in chunks if isinstance(c, TextChunk)) == (
        "Paris is the capital of France."
    )
    request = fake_gemini.last_request
    assert request is not None
    assert request.stream and request.model == "gemini-3.5-flash-lite"
    assert request.system_instruction == {"parts": [{"text": "You are a test."}], "role": "user"}
    assert request.body["generationConfig"]["temperature"] == 0.7
    assert request.headers["x-goog-api-key"] == TEST_KEY
    assert TEST_KEY not in request.path


async def test_history_roles_and_speakers_reach_the_model(
    gemini: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    messages = [
        ChatMessage(role="user", content="hello", speaker="alice"),
        ChatMessage(role="assistant", content="hi alice", interrupted=True),
        ChatMessage(role="user", content="again"),
    ]
    await gemini.complete(LLMRequest(system="s", messages=messages))
    request = fake_gemini.last_request
    assert request is not None
    assert [c["role"] for c in request.contents] == ["user", "model", "user"]
    assert request.contents[0]["parts"][0]["text"] == "alice: hello"
    assert "interrupted" in request.contents[1]["parts"][0]["text"]


async def test_function_call_round_trip_through_the_agent(
    gemini: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    tools = FunctionTools()
    tools.add(
        lambda city: {"city": city, "temp_c": 21},
        name="get_weather",
        description="Current weather in a city.",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    )
    fake_gemini.enqueue(
        script.function_call(
            "get_weather", {"city": "Paris"}, call_id="fc-1", thought_signature="c2lnbmF0dXJl"
        ),
        script.text("It is 21 degrees in Paris."),
    )
    agent = Agent(gemini, AgentOptions(system_prompt="s"), tools=tools)
    events = [e async for e in agent.run_turn("Weather in Paris?")]

    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert finished[0].call.arguments == {"city": "Paris"}
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.reply == "It is 21 degrees in Paris."
    assert done.tool_calls == ("get_weather",)

    first, second = fake_gemini.requests[-2:]
    declaration = first.body["tools"][0]["functionDeclarations"][0]
    assert declaration["name"] == "get_weather"
    schema = declaration.get("parameters_json_schema") or declaration.get("parametersJsonSchema")
    assert schema["required"] == ["city"]
    # the model's call (with its signature) and our result went back
    model_turn = second.contents[-2]
    assert model_turn["role"] == "model"
    assert model_turn["parts"][0]["functionCall"]["name"] == "get_weather"
    assert model_turn["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"
    response = second.function_responses[0]
    assert response["id"] == "fc-1"
    assert response["response"]["result"]
    assert response["response"]["structured"] == {"city": "Paris", "temp_c": 21}


async def test_multi_step_tool_calls_are_bounded(
    gemini: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    tools = FunctionTools()
    tools.add(lambda: "12:00", name="get_time", description="The time.")
    # Two rounds of calls, then the third request may not call (a real Gemini answers).
    fake_gemini.enqueue(*[script.function_call("get_time") for _ in range(2)])
    fake_gemini.enqueue(script.text("Done."))
    agent = Agent(gemini, AgentOptions(system_prompt="s", max_tool_steps=2), tools=tools)
    done = await agent.reply("time?")
    assert done.tool_calls == ("get_time", "get_time")
    assert done.reply == "Done."
    last = fake_gemini.last_request
    assert last is not None
    assert last.body["toolConfig"]["functionCallingConfig"]["mode"] == "NONE"


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (script.invalid_api_key(), LLMAuthError, "rejected the API key"),
        (script.http_error(401), LLMAuthError, "rejected the API key"),
        (script.http_error(403), LLMAuthError, "rejected the API key"),
        (script.http_error(400, "bad field"), LLMBadRequest, "bad field"),
        (script.http_error(404), LLMModelNotFound, "not available"),
    ],
)
async def test_non_retryable_failures(
    gemini: GeminiLLM, fake_gemini: FakeGemini, reply: script.Reply, error: type, message: str
) -> None:
    fake_gemini.enqueue(reply, script.text("never sent"))
    with pytest.raises(error, match=message):
        await gemini.complete(ask("hi"))
    assert fake_gemini.pending == 1  # not retried


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (script.rate_limited(), LLMQuotaError),
        (script.http_error(500), LLMServerError),
        (script.http_error(503), LLMServerError),
        (script.malformed(), LLMServerError),
    ],
)
async def test_retryable_failures_are_retried_then_succeed(
    gemini: GeminiLLM, fake_gemini: FakeGemini, reply: script.Reply, error: type
) -> None:
    fake_gemini.enqueue(reply, reply, script.text("recovered"))
    text, _ = await gemini.complete(ask("hi"))
    assert text == "recovered"
    assert len(fake_gemini.requests) == 3


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (script.rate_limited(), LLMQuotaError, "quota"),
        (script.http_error(503), LLMServerError, "503"),
    ],
)
async def test_retryable_failures_give_up_after_max_retries(
    gemini: GeminiLLM, fake_gemini: FakeGemini, reply: script.Reply, error: type, message: str
) -> None:
    fake_gemini.enqueue(reply, reply, reply, reply)
    with pytest.raises(error, match=message):
        await gemini.complete(ask("hi"))
    assert len(fake_gemini.requests) == 3  # one try + max_retries


async def test_a_hanging_server_times_out(gemini: GeminiLLM, fake_gemini: FakeGemini) -> None:
    gemini.timeout_s = 0.3
    gemini.retry = RetryPolicy(max_retries=0)
    fake_gemini.enqueue(script.hang())
    with pytest.raises(LLMTimeout):
        await gemini.complete(ask("hi"))


async def test_a_slow_server_within_the_timeout_answers(
    gemini: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(script.slow(0.2, script.text("late but fine")))
    text, _ = await gemini.complete(ask("hi"))
    assert text == "late but fine"


async def test_a_stream_that_stalls_mid_reply_times_out(
    gemini: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    gemini.timeout_s = 0.3
    fake_gemini.enqueue(script.stall("first words then nothing", after_chunks=1))
    chunks: list[object] = []
    with pytest.raises(LLMTimeout):
        async for chunk in gemini.stream(ask("hi")):
            chunks.append(chunk)
    assert len(chunks) == 1  # what came before the stall was delivered
    assert len(fake_gemini.requests) == 1  # never retried once text was out


async def test_a_dropped_stream_is_a_server_error_not_retried(
    gemini: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(script.drop(after_chunks=1), script.text("never"))
    with pytest.raises(LLMServerError, match="cut off"):
        async for _ in gemini.stream(ask("hi")):
            pass
    assert len(fake_gemini.requests) == 1


async def test_an_error_event_mid_stream(gemini: GeminiLLM, fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(script.stream_error(500, after_chunks=1))
    with pytest.raises(LLMServerError):
        async for _ in gemini.stream(ask("hi")):
            pass


async def test_connection_refused_is_a_connection_error() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    llm = GeminiLLM(
        api_key=Secret(TEST_KEY, "GEMINI_API_KEY"),
        base_url=f"http://127.0.0.1:{port}",
        retry=RetryPolicy(max_retries=0),
    )
    try:
        with pytest.raises(LLMConnectionError, match=f"127.0.0.1:{port}"):
            await llm.complete(ask("hi"))
    finally:
        await llm.aclose()


async def test_no_key_is_an_auth_error_before_any_request(fake_gemini: FakeGemini) -> None:
    llm = GeminiLLM(api_key=None)
    with pytest.raises(LLMAuthError, match="GEMINI_API_KEY"):
        await llm.complete(ask("hi"))
    assert fake_gemini.requests == []


async def test_stopping_early_closes_the_http_stream(
    gemini: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(script.text("one two three four five six", chunks=6, chunk_delay=0.2))
    stream = gemini.stream(ask("count"))
    await anext(stream)
    await stream.aclose()  # barge-in
    request = fake_gemini.last_request
    assert request is not None
    for _ in range(50):
        if request.client_disconnected:
            break
        await asyncio.sleep(0.02)
    assert request.client_disconnected
    assert not request.completed


async def test_no_error_message_carries_the_key(gemini: GeminiLLM, fake_gemini: FakeGemini) -> None:
    # a hostile proxy echoing the key back in its error message
    fake_gemini.enqueue(script.http_error(400, f"bad key {TEST_KEY}"))
    with pytest.raises(LLMError) as caught:
        await gemini.complete(ask("hi"))
    assert TEST_KEY not in str(caught.value)


async def test_tools_are_declared_for_the_model(gemini: GeminiLLM, fake_gemini: FakeGemini) -> None:
    spec = ToolSpec(
        "set_timer",
        "Sets a timer.",
        {"type": "object", "properties": {"minutes": {"type": "integer", "minimum": 1}}},
    )
    await gemini.complete(ask("hi", tools=[spec]))
    request = fake_gemini.last_request
    assert request is not None
    declaration = request.body["tools"][0]["functionDeclarations"][0]
    schema = declaration.get("parameters_json_schema") or declaration.get("parametersJsonSchema")
    assert schema["properties"]["minutes"]["minimum"] == 1


async def test_a_retired_model_is_a_usage_error_that_names_it(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_gemini, "models", {"gemini-3.5-flash-lite"})
    llm = GeminiLLM(
        model="gemini-2.0-flash",
        api_key=Secret(TEST_KEY, "GEMINI_API_KEY"),
        retry=RetryPolicy(max_retries=2, sleep=_no_sleep),
    )
    try:
        with pytest.raises(LLMModelNotFound) as raised:
            await llm.complete(ask("hi"))
    finally:
        await llm.aclose()
    error = raised.value
    assert error.exit_code == 2
    assert "'gemini-2.0-flash'" in error.message and "--model" in error.message
    assert "\n" not in error.message and TEST_KEY not in error.message
    assert len(fake_gemini.requests) == 1  # a missing model is not retried


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, {"thinking_level": "MINIMAL"}),
        ({"gemini.thinking_level": "low"}, {"thinking_level": "LOW"}),
        ({"gemini.thinking_budget": 0}, {"thinking_budget": 0}),
        ({"gemini.thinking_level": "default"}, None),
    ],
)
async def test_thinking_is_bounded_as_the_profile_says(
    fake_gemini: FakeGemini, overrides: dict[str, object], expected: dict[str, object] | None
) -> None:
    from voice_agent_cli.compose.agent import build_provider
    from voice_agent_cli.config import load_settings

    settings = load_settings(None, overrides, environ={"GEMINI_API_KEY": TEST_KEY})
    llm = build_provider(settings, "gemini")
    try:
        await llm.complete(ask("hi"))
    finally:
        await llm.aclose()
    request = fake_gemini.last_request
    assert request is not None
    # google-genai 3.6.1 sends the thinking config's own field names (the API takes both).
    assert request.body["generationConfig"].get("thinkingConfig") == expected


async def _no_sleep(seconds: float) -> None:
    return None
