"""Fill the reply cache: ask each question once through the agent, and say what became of it.

::

    questions ─► agent.reply (a fresh conversation each) ─┬─► already buffered (a hit)
                                                          ├─► cached (the buffer stored it)
                                                          ├─► not cacheable (the policy said no)
                                                          └─► failed (an error, or degraded)

The agent is opened by the caller (``va cache warm``, through
:func:`voice_agent_cli.compose.agent.open_agent`) with this profile's buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from voice_agent_cli.buffer.response_buffer import ResponseBuffer
from voice_agent_cli.errors import CacheUnavailable, DependencyUnavailable, LLMAuthError, VAError

if TYPE_CHECKING:
    from voice_agent_cli.core.agent import Agent


async def warm(
    agent: Agent, questions: Sequence[str], advance: Callable[[str], None]
) -> dict[str, Any]:
    """Ask each question in a fresh conversation; report what became of each reply.

    ``advance(question)`` is called after each one (a progress bar).
    """
    buffer = agent.buffer
    assert isinstance(buffer, ResponseBuffer)
    if buffer.cache is None:  # it failed between the caller's probe and now
        raise CacheUnavailable("the reply cache could not be opened")
    outcomes: dict[str, list[str]] = {
        "cached": [], "already_buffered": [], "not_cacheable": [], "failed": [],
    }  # fmt: skip
    errors: list[str] = []
    await agent.start()
    for question in questions:
        stores_before = buffer.stats.totals["stores"]
        try:
            turn = await agent.reply(question, conversation=agent.new_conversation())
        except (DependencyUnavailable, LLMAuthError):
            raise  # nothing else will work either
        except VAError as exc:
            outcomes["failed"].append(question)
            errors.append(f"{question}: {exc}")
        else:
            if turn.source in ("prebuffered", "cache"):
                outcomes["already_buffered"].append(question)
            elif turn.source == "degraded":  # every LLM was down: nothing to keep
                outcomes["failed"].append(question)
                errors.append(f"{question}: {turn.details.get('error', 'LLM down')}")
            elif buffer.stats.totals["stores"] > stores_before:
                outcomes["cached"].append(question)
            else:
                outcomes["not_cacheable"].append(question)
        advance(question)
    return {
        "questions": len(questions),
        **{name: len(items) for name, items in outcomes.items()},
        "details": outcomes,
        "errors": errors,
    }
