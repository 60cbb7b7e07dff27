"""Bounded history: message count, token budget, well-formed trimming."""

from __future__ import annotations

from voice_agent_cli.contracts.messages import ToolCall, ToolResult
from voice_agent_cli.core.conversation import Conversation


def test_keeps_at_most_max_messages_and_starts_with_a_user_message() -> None:
    history = Conversation(max_messages=4)
    for i in range(5):
        history.add_user(f"question {i}")
        history.add_assistant(f"answer {i}")
    kept = history.messages
    assert len(kept) <= 4
    assert kept[0].role == "user"
    assert [m.content for m in kept] == ["question 3", "answer 3", "question 4", "answer 4"]


def test_token_budget_drops_the_oldest_messages_first() -> None:
    history = Conversation(max_messages=100, max_tokens=60, count_tokens=lambda t: len(t.split()))
    for i in range(10):
        history.add_user(f"question number {i} " + "word " * 5)
        history.add_assistant(f"answer {i}")
    window = history.window()
    assert window[-1].content == "answer 9"
    assert window[0].role == "user"
    cost = sum(len(m.content.split()) + 4 for m in window)
    assert cost <= 60


def test_trimming_never_leaves_a_tool_result_without_its_call() -> None:
    history = Conversation(max_messages=3)
    call = ToolCall(id="c1", name="get_time", arguments={})
    history.add_user("what time is it")
    history.add_assistant("", tool_calls=[call])
    history.add_tool_result(call, ToolResult("noon"))
    history.add_assistant("It is noon.")
    history.add_user("thanks")
    roles = [m.role for m in history.messages]
    assert roles[0] == "user"
    assert "tool" not in roles[:1]


def test_the_newest_message_is_kept_even_over_budget() -> None:
    history = Conversation(max_tokens=5)
    history.add_user("a very long question " * 50)
    assert len(history.window()) == 1


def test_forget_from_removes_a_failed_turn() -> None:
    history = Conversation()
    history.add_user("first")
    history.add_assistant("one")
    failed = history.add_user("second")
    history.forget_from(failed)
    assert [m.content for m in history.messages] == ["first", "one"]


def test_clear_and_last_user_text() -> None:
    history = Conversation()
    history.add_user("hello", speaker="alice")
    assert history.last_user_text() == "hello"
    assert history.messages[0].speaker == "alice"
    history.clear()
    assert len(history) == 0
    assert history.last_user_text() is None
