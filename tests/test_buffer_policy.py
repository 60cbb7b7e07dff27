"""The caching rule: what a cached reply is keyed on, and what is never cached."""

from __future__ import annotations

import pytest

from tests.buffer_helpers import exchange, turn
from voice_agent_cli.buffer import CachePolicy, normalize
from voice_agent_cli.buffer.settings import CacheSettings
from voice_agent_cli.testing.fake_llm import tool_call


def key_of(policy: CachePolicy, text: str, **kwargs: object) -> str:
    return policy.key(turn(text, **kwargs), normalize(text)).digest  # type: ignore[arg-type]


@pytest.fixture
def policy() -> CachePolicy:
    return CachePolicy.from_settings(CacheSettings())


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "How do I reverse a list in Python?",
        "Who wrote Pride and Prejudice?",
        "Tell me a joke",
    ],
)
def test_self_contained_questions_do_not_depend_on_the_history(
    policy: CachePolicy, question: str
) -> None:
    assert not policy.depends_on_history(normalize(question))


@pytest.mark.parametrize(
    "question",
    [
        "Why?",
        "And Spain?",
        "What about Germany?",
        "How big is it?",
        "Tell me more about that",
        "What else did she write?",
        "What is my name?",
        "Can you say that again?",
    ],
)
def test_follow_ups_depend_on_the_history(policy: CachePolicy, question: str) -> None:
    assert policy.depends_on_history(normalize(question))


def test_a_self_contained_question_has_one_key_in_every_conversation(policy: CachePolicy) -> None:
    fresh = key_of(policy, "What is the capital of France?")
    later = key_of(
        policy,
        "what's the capital of France",
        history=exchange("Hi", "Hello!"),
        speaker="bob",
    )
    assert fresh == later


def test_a_follow_up_is_keyed_on_the_conversation_and_the_speaker(policy: CachePolicy) -> None:
    about_france = exchange("What is the capital of France?", "Paris.")
    about_spain = exchange("What is the capital of Spain?", "Madrid.")
    base = key_of(policy, "How big is it?", history=about_france)
    assert key_of(policy, "how big is it", history=about_france) == base
    assert key_of(policy, "How big is it?", history=about_spain) != base
    assert key_of(policy, "How big is it?", history=about_france, speaker="ann") != base


def test_only_the_last_messages_of_the_history_count() -> None:
    policy = CachePolicy(context_messages=2)
    recent = exchange("What is the capital of France?", "Paris.")
    a = key_of(policy, "Why?", history=[*exchange("one", "1"), *recent])
    b = key_of(policy, "Why?", history=[*exchange("two", "2"), *recent])
    assert a == b


def test_the_llm_and_the_system_prompt_are_part_of_every_key(policy: CachePolicy) -> None:
    base = key_of(policy, "What is the capital of France?")
    assert key_of(policy, "What is the capital of France?", llm="gemini:x") != base
    assert key_of(policy, "What is the capital of France?", system="Answer in French.") != base


def test_context_rules_history_and_none() -> None:
    always = CachePolicy(context="history")
    never = CachePolicy(context="none")
    question = "What is the capital of France?"
    assert always.depends_on_history(normalize(question))
    assert not never.depends_on_history(normalize("Why?"))
    history = exchange("Hi", "Hello")
    assert key_of(always, question) != key_of(always, question, history=history)
    assert key_of(never, "Why?") == key_of(never, "Why?", history=history)


@pytest.mark.parametrize(
    "question",
    [
        "What's the weather like?",
        "What day is it?",
        "Any news about the election?",
        "Flip a coin",
        "Remind me to call Bob",
        "What is the latest iPhone?",
        "What are you doing this weekend?",
    ],
)
def test_time_and_chance_questions_are_never_cached(policy: CachePolicy, question: str) -> None:
    assert not policy.question_is_cacheable(normalize(question))


def test_ordinary_questions_are_cacheable(policy: CachePolicy) -> None:
    assert policy.question_is_cacheable(normalize("What is the capital of France?"))
    assert not policy.question_is_cacheable("")


def test_by_default_a_reply_that_used_any_tool_is_not_cached(policy: CachePolicy) -> None:
    assert policy.tools_are_cacheable([])
    assert not policy.tools_are_cacheable([tool_call("lookup_word")])


def test_a_profile_can_list_only_its_impure_tools() -> None:
    policy = CachePolicy(uncacheable_tools=["send_*", "get_time"])
    assert policy.tools_are_cacheable([tool_call("lookup_word")])
    assert not policy.tools_are_cacheable([tool_call("lookup_word"), tool_call("Send_Email")])
    assert not policy.tools_are_cacheable([tool_call("get_time")])
    assert CachePolicy(uncacheable_tools=[]).tools_are_cacheable([tool_call("anything")])


def test_a_profile_can_mark_intents_uncacheable() -> None:
    policy = CachePolicy(uncacheable_patterns=[r"\bmy account\b", r"^order "])
    assert not policy.question_is_cacheable(normalize("What's in my account?"))
    assert not policy.question_is_cacheable(normalize("Order a pizza"))
    assert policy.question_is_cacheable(normalize("What is a pizza?"))


def test_a_bad_uncacheable_pattern_is_a_config_error() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not a valid regular expression"):
        CacheSettings(uncacheable_patterns=["("])
