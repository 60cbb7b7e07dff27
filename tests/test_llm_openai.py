"""OpenAI-compatible servers through the real openai SDK, against a local fake server.

The fake produces what a real server will not on demand: 429 with Retry-After,
5xx, hangs, dropped and malformed streams, a bad key, an unknown model. The
real llama.cpp server is driven in test_llm_openai_llamacpp.py.
"""

from __future__ import annotations

import socket

import pytest

from tests.openai_fixtures import TEST_KEY
from voice_agent_cli.contracts.events import ToolCallFinished, TurnCompleted
from voice_agent_cli.contracts.messages import ChatMessage, ToolCall, ToolResult, ToolSpec
from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.errors import (
    EXIT_FAILURE,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    LLMAuthError,
    LLMBadRequest,
    LLMConnectionError,
    LLMModelNotFound,
    LLMQuotaError,
    LLMServerError,
    LLMTimeout,
)
from voice_agent_cli.llm import stats
from voice_agent_cli.llm.base import LLMRequest, TextChunk
from voice_agent_cli.llm.openai import OpenAILLM, to_messages
from voice_agent_cli.observe import metrics
from voice_agent_cli.resilience import RetryPolicy
from voice_agent_cli.testing import fake_openai as script
from voice_agent_cli.testing.fake_openai import FakeOpenAI
from voice_agent_cli.tools.base import FunctionTools

WEATHER = ToolSpec(
    "get_weather",
    "Current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def ask(text: str, **kwargs: object) -> LLMRequest:
    return LLMRequest(
        system="You are a test.",
        messages=[ChatMessage(role="user", content=text)],
        **kwargs,  # type: ignore[arg-type]
    )


def weather_tools() -> FunctionTools:
    tools = FunctionTools()
    tools.add(
        lambda city: {"city": city, "temp_c": 21},
        name=WEATHER.name,
        description=WEATHER.description,
        parameters=WEATHER.parameters,
    )
    return tools


class Sleeps:
    """A RetryPolicy sleep that records how long it was asked to wait."""

    def __init__(self) -> None:
        self.waited: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waited.append(seconds)


async def test_streams_text_and_sends_a_standard_request(
    openai_llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(script.text("Paris is the capital of France.", chunks=4))
    chunks = [c async for c in openai_llm.stream(ask("Capital of France?", max_output_tokens=99))]
    assert all(isinstance(c, TextChunk) for c in chunks)
    assert len(chunks) == 4
    assert "".join(c.text for c in chunks) == "Paris is the capital of France."  # type: ignore[union-attr]
    request = fake_openai.last_request
    assert request is not None and request.stream
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert request.body["model"] == "fake-model"
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["max_tokens"] == 99
    assert request.messages == [
        {"role": "system", "content": "You are a test."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert "tools" not in request.body


async def test_usage_and_the_providers_own_ttft_are_reported(
    openai_llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(script.text("One two three.", chunks=3))
    registry = metrics.Metrics()
    openai_llm.report_to(registry)
    with stats.collect() as calls:
        text, _ = await openai_llm.complete(ask("Count."))
    assert text == "One two three."
    assert len(calls) == 1
    call = calls[0]
    assert call.provider == "openai" and call.model == "fake-model"
    assert call.ttft_ms is not None and 0 < call.ttft_ms <= call.duration_ms
    assert call.prompt_tokens and call.completion_tokens == 3
    counters = registry.as_json()["counters"]
    assert any("llm_tokens" in name for name in counters)
    assert "llm_provider_ttft" in registry.as_json()["stages"]


async def test_several_tool_calls_in_one_step_are_joined_by_index(
    openai_llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(
        script.tool_calls(
            script.call("get_weather", {"city": "Paris"}, id="call_a"),
            script.call("get_weather", {"city": "Oslo, Norway"}, id="call_b"),
            arg_chunks=4,
        )
    )
    text, calls = await openai_llm.complete(ask("Weather?", tools=[WEATHER]))
    assert text == ""
    assert calls == [
        ToolCall("call_a", "get_weather", {"city": "Paris"}),
        ToolCall("call_b", "get_weather", {"city": "Oslo, Norway"}),
    ]
    request = fake_openai.last_request
    assert request is not None
    assert request.tools[0]["function"]["name"] == "get_weather"
    assert request.tools[0]["function"]["parameters"]["required"] == ["city"]
    assert request.body["tool_choice"] == "auto"


async def test_tool_round_trip_through_the_agent(
    openai_llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(
        script.tool_calls(
            script.call("get_weather", {"city": "Paris"}, id="call_a"),
            script.call("get_weather", {"city": "Rome"}, id="call_b"),
        ),
        script.text("21 degrees in both."),
    )
    agent = Agent(openai_llm, AgentOptions(system_prompt="s"), tools=weather_tools())
    events = [e async for e in agent.run_turn("Weather in Paris and Rome?")]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [f.call.arguments for f in finished] == [{"city": "Paris"}, {"city": "Rome"}]
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.reply == "21 degrees in both."
    assert done.tool_calls == ("get_weather", "get_weather")

    second = fake_openai.requests[-1].messages
    assistant = second[-3]
    assert assistant["role"] == "assistant" and assistant["content"] == ""
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_a", "call_b"]
    assert [(m["role"], m["tool_call_id"]) for m in second[-2:]] == [
        ("tool", "call_a"),
        ("tool", "call_b"),
    ]
    assert '"temp_c": 21' in second[-1]["content"]
    assert fake_openai.requests[-1].body["tool_choice"] == "auto"


async def test_tool_steps_are_bounded(openai_llm: OpenAILLM, fake_openai: FakeOpenAI) -> None:
    # The model would go on calling tools; after two steps va asks for words only.
    fake_openai.enqueue(*[script.tool_calls(script.call("get_weather", {"city": "X"}))] * 2)
    fake_openai.enqueue(script.text("Done."))
    agent = Agent(
        openai_llm, AgentOptions(system_prompt="s", max_tool_steps=2), tools=weather_tools()
    )
    done = await agent.reply("weather?")
    assert done.tool_calls == ("get_weather", "get_weather") and done.reply == "Done."
    last = fake_openai.last_request
    assert last is not None and last.body["tool_choice"] == "none"


async def test_a_named_tool_choice_forces_only_the_first_step(fake_openai: FakeOpenAI) -> None:
    llm = OpenAILLM(
        model="fake-model",
        api_key=Secret(TEST_KEY, "OPENAI_API_KEY"),
        base_url=fake_openai.base_url,
        tool_choice="get_weather",
    )
    fake_openai.enqueue(
        script.tool_calls(script.call("get_weather", {"city": "Paris"})), script.text("Mild.")
    )
    agent = Agent(llm, AgentOptions(system_prompt="s"), tools=weather_tools())
    try:
        assert (await agent.reply("Paris?")).reply == "Mild."
    finally:
        await llm.aclose()
    first, second = fake_openai.requests[-2:]
    assert first.body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert second.body["tool_choice"] == "auto"


def test_history_keeps_speakers_interruptions_and_tool_results() -> None:
    call = ToolCall("c1", "get_weather", {"city": "Paris"})
    messages = [
        ChatMessage(role="user", content="hello", speaker="alice"),
        ChatMessage(role="assistant", content="hi alice", interrupted=True),
        ChatMessage(role="user", content="weather?"),
        ChatMessage(role="assistant", tool_calls=(call,)),
        ChatMessage.for_tool_result(call, ToolResult("boom", is_error=True)),
    ]
    converted = to_messages("", messages)
    assert converted[0] == {"role": "user", "content": "alice: hello"}
    assert converted[1]["content"] == "hi alice [interrupted by the user]"
    assert converted[3]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert converted[4] == {"role": "tool", "tool_call_id": "c1", "content": '{"error": "boom"}'}


@pytest.mark.parametrize(
    ("reply", "error", "code", "message"),
    [
        (script.invalid_api_key(), LLMAuthError, EXIT_USAGE, "rejected the API key"),
        (script.http_error(403, "no access"), LLMAuthError, EXIT_USAGE, "$OPENAI_API_KEY"),
        (script.model_not_found("fake-model"), LLMModelNotFound, EXIT_USAGE, "'fake-model'"),
        (script.context_length_exceeded(), LLMBadRequest, EXIT_FAILURE, "too long"),
        (script.http_error(400, "bad field"), LLMBadRequest, EXIT_FAILURE, "bad field"),
        (script.http_error(404, "Not Found"), LLMBadRequest, EXIT_FAILURE, "openai.base_url"),
        (
            script.http_error(429, "You exceeded your quota", code="insufficient_quota"),
            LLMBadRequest,
            EXIT_FAILURE,
            "quota exhausted",
        ),
    ],
)
async def test_failures_that_are_not_retried(
    openai_llm: OpenAILLM,
    fake_openai: FakeOpenAI,
    reply: script.Reply,
    error: type,
    code: int,
    message: str,
) -> None:
    fake_openai.enqueue(reply, script.text("never sent"))
    with pytest.raises(error) as raised:
        await openai_llm.complete(ask("hi"))
    assert raised.value.exit_code == code
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert fake_openai.pending == 1  # not retried


async def test_an_unknown_model_says_where_to_list_them(fake_openai: FakeOpenAI) -> None:
    fake_openai.models = {"llama3.2"}
    llm = OpenAILLM(model="lama3.2", base_url=fake_openai.base_url, api_key=Secret(TEST_KEY, "K"))
    try:
        with pytest.raises(LLMModelNotFound) as raised:
            await llm.complete(ask("hi"))
    finally:
        fake_openai.models = None
        await llm.aclose()
    text = str(raised.value)
    assert "'lama3.2'" in text and "--model" in text
    assert f"{fake_openai.base_url}/models" in text


@pytest.mark.parametrize(
    "reply",
    [
        script.rate_limited(retry_after_s=2),
        script.server_error(500),
        script.server_error(503),
        script.malformed(),
        script.stream_error(),
        script.drop(after_chunks=1),  # only the role chunk went out: no text was shown
    ],
    ids=["429", "500", "503", "malformed", "stream-error", "drop-before-text"],
)
async def test_retryable_failures_are_retried_then_succeed(
    openai_llm: OpenAILLM, fake_openai: FakeOpenAI, reply: script.Reply
) -> None:
    fake_openai.enqueue(reply, reply, script.text("recovered"))
    text, _ = await openai_llm.complete(ask("hi"))
    assert text == "recovered"
    assert len(fake_openai.requests) == 3


async def test_retry_after_is_honoured_up_to_the_cap(fake_openai: FakeOpenAI) -> None:
    sleeps = Sleeps()
    llm = OpenAILLM(
        model="fake-model",
        api_key=Secret(TEST_KEY, "OPENAI_API_KEY"),
        base_url=fake_openai.base_url,
        retry=RetryPolicy(max_retries=2, max_delay_s=5, sleep=sleeps),
    )
    try:
        fake_openai.enqueue(script.rate_limited(retry_after_s=1.5), script.text("ok"))
        assert (await llm.complete(ask("hi")))[0] == "ok"
        assert sleeps.waited == [1.5]
        # asked to wait longer than we may: no retry at all, the 429 is reported
        fake_openai.enqueue(script.rate_limited(retry_after_s=30), script.text("never"))
        with pytest.raises(LLMQuotaError, match="rate limit"):
            await llm.complete(ask("hi"))
        assert sleeps.waited == [1.5]
        assert fake_openai.pending == 1
    finally:
        await llm.aclose()


async def test_a_stream_cut_after_text_is_an_error_never_a_retry(
    openai_llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(script.drop("Paris is the capital", chunks=3, after_chunks=3))
    seen: list[str] = []
    with pytest.raises(LLMServerError, match=r"mid-reply|before the reply was complete"):
        async for chunk in openai_llm.stream(ask("Capital?")):
            assert isinstance(chunk, TextChunk)
            seen.append(chunk.text)
    assert seen  # the words already said stay said
    assert len(fake_openai.requests) == 1


async def test_a_hanging_server_times_out_and_is_retried(
    fake_openai: FakeOpenAI,
) -> None:
    llm = OpenAILLM(
        model="fake-model",
        api_key=Secret(TEST_KEY, "OPENAI_API_KEY"),
        base_url=fake_openai.base_url,
        timeout_s=0.3,
        retry=RetryPolicy(max_retries=1, sleep=Sleeps()),
    )
    fake_openai.enqueue(script.hang(), script.text("late but here"))
    try:
        assert (await llm.complete(ask("hi")))[0] == "late but here"
        fake_openai.enqueue(script.stall(after_chunks=2), script.text("never"))
        with pytest.raises(LLMTimeout, match=r"did not answer within 0\.3 s"):
            await llm.complete(ask("hi"))
        assert fake_openai.pending == 1  # text was out: not retried
    finally:
        await llm.aclose()


async def test_a_refused_connection_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    llm = OpenAILLM(
        model="m", base_url=f"http://127.0.0.1:{port}/v1", retry=RetryPolicy(max_retries=0)
    )
    try:
        with pytest.raises(LLMConnectionError) as raised:
            await llm.complete(ask("hi"))
    finally:
        await llm.aclose()
    assert raised.value.exit_code == EXIT_UNAVAILABLE
    assert f"cannot reach the server at 127.0.0.1:{port}" in str(raised.value)


async def test_an_empty_stream_is_diagnosed_without_streaming(
    openai_llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    """llama-cpp-python's server streams nothing for a prompt over its context."""
    fake_openai.enqueue(script.silent(), script.context_length_exceeded())
    with pytest.raises(LLMBadRequest, match="too long for fake-model's context window"):
        await openai_llm.complete(ask("a very long question"))
    probe = fake_openai.last_request
    assert probe is not None and not probe.stream
    assert probe.body["max_tokens"] == 1 and "stream_options" not in probe.body


async def test_a_local_server_needs_no_key(fake_openai: FakeOpenAI) -> None:
    fake_openai.api_key = None
    llm = OpenAILLM(model="fake-model", base_url=fake_openai.base_url)
    try:
        assert (await llm.complete(ask("hello")))[0] == "echo: hello"
    finally:
        fake_openai.api_key = TEST_KEY
        await llm.aclose()
    request = fake_openai.last_request
    assert request is not None and request.headers["authorization"] == "Bearer no-key-needed"


async def test_openai_itself_without_a_key_says_how_to_fix_it() -> None:
    llm = OpenAILLM(model="gpt-5.4-mini")
    with pytest.raises(LLMAuthError, match="OPENAI_API_KEY") as raised:
        await llm.start()
    assert raised.value.exit_code == EXIT_USAGE


async def test_the_sdk_environment_variables_are_honoured(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    llm = OpenAILLM(model="fake-model", api_key=Secret(TEST_KEY, "OPENAI_API_KEY"))
    try:
        assert llm.endpoint == f"127.0.0.1:{fake_openai.port}"
        assert (await llm.complete(ask("hi")))[0] == "echo: hi"
    finally:
        await llm.aclose()


async def test_profile_headers_reach_the_server_with_variables_resolved(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voice_agent_cli.compose.agent import build_provider
    from voice_agent_cli.config import load_settings

    monkeypatch.setenv("GATEWAY_TOKEN", "tok-123")
    settings = load_settings(
        None,
        {
            "openai.base_url": fake_openai.base_url,
            "openai.model": "fake-model",
            "openai.headers": {"X-Gateway": "Bearer ${GATEWAY_TOKEN}", "X-Team": "voice"},
            "openai.reasoning_effort": "none",
            "openai.max_tokens_param": "max_completion_tokens",
        },
        environ={"OPENAI_API_KEY": TEST_KEY},
    )
    llm = build_provider(settings, "openai")
    try:
        await llm.complete(ask("hi"))
    finally:
        await llm.aclose()
    request = fake_openai.last_request
    assert request is not None
    assert request.headers["x-gateway"] == "Bearer tok-123"
    assert request.headers["x-team"] == "voice"
    assert request.body["reasoning_effort"] == "none"
    assert "max_completion_tokens" in request.body and "max_tokens" not in request.body
    shown = settings.describe()
    assert shown["openai"]["headers"] == {"X-Gateway": "<hidden>", "X-Team": "<hidden>"}
    assert TEST_KEY not in str(shown)


async def test_a_key_echoed_by_the_server_never_reaches_the_message(
    openai_llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.enqueue(script.http_error(400, f"bad request for key {TEST_KEY}"))
    with pytest.raises(LLMBadRequest) as raised:
        await openai_llm.complete(ask("hi"))
    assert TEST_KEY not in str(raised.value)
