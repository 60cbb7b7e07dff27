"""The LLM and tool loop of one turn: tool detection, then bounded LLM <-> tools steps.

::

    latest user words ─► ToolRouter rule? ──call──► run it ─┐
                              │ none / "answer directly"    │
                              ▼                             ▼
                       LLM step (stream text, collect calls) ◄─┘
                              │ calls                 │ no calls: the reply
                              ▼                       ▼
                       run them concurrently      done
                       (a filler line if slow)
                              │
                              └──► next step ... up to ``max_tool_steps``

Text streams out as :class:`~voice_agent_cli.contracts.events.TextDelta` the
moment it arrives; the model's words before a tool call go to the history, not
to the reply. What the turn produced is kept in its
:class:`~voice_agent_cli.core.turn_state.TurnState`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing, suppress
from dataclasses import replace
from typing import TYPE_CHECKING

from voice_agent_cli.contracts.events import (
    FillerSpeech,
    Notice,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnEvent,
    TurnTimings,
)
from voice_agent_cli.contracts.messages import ToolCall, ToolResult, ToolSpec
from voice_agent_cli.core.conversation import Conversation
from voice_agent_cli.core.options import AgentOptions
from voice_agent_cli.core.tool_router import ToolDecision, model_decision
from voice_agent_cli.core.turn_state import TurnState
from voice_agent_cli.llm.base import LLM, LLMRequest, TextChunk
from voice_agent_cli.resilience import Deadline
from voice_agent_cli.tools.base import ToolProvider

if TYPE_CHECKING:
    from voice_agent_cli.core.tool_router import ToolRouter
    from voice_agent_cli.ratelimit import RateLimits


class ToolLoop:
    """Asks the LLM, runs the tools it (or a rule) calls, and asks again, within bounds."""

    def __init__(
        self,
        llm: LLM,
        options: AgentOptions,
        *,
        tools: ToolProvider | None = None,
        limits: RateLimits | None = None,
        tool_router: ToolRouter | None = None,
    ) -> None:
        self.llm = llm
        self.options = options
        self.tools = tools
        self.limits = limits
        self.tool_router = tool_router

    def request(
        self,
        conversation: Conversation,
        system: str,
        specs: Sequence[ToolSpec],
        *,
        step: int = 0,
        deadline: Deadline | None = None,
    ) -> LLMRequest:
        """The LLM request of one step (tools allowed until the step limit)."""
        return LLMRequest(
            deadline=deadline,
            system=system,
            messages=conversation.window(),
            tools=specs,
            allow_tools=bool(specs) and step < self.options.max_tool_steps,
            temperature=self.options.temperature,
            max_output_tokens=self.options.max_output_tokens,
        )

    async def answer(
        self,
        conversation: Conversation,
        timings: TurnTimings,
        state: TurnState,
        *,
        system: str | None = None,
        use_tools: bool = True,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Tool detection, then the LLM <-> tools loop, bounded by ``max_tool_steps``."""
        specs: Sequence[ToolSpec] = ()
        if self.tools is not None and use_tools:
            specs = self.tools.specs()
        system = system or self.options.system_prompt
        llm_started = time.perf_counter()
        first_step = 0
        model_may_call = True
        decision = self._route(conversation, specs)
        if decision is not None:
            state.details.setdefault("tool_decisions", []).append(decision.as_json())
            if decision.hint:
                system = f"{system}\n{decision.hint}"
            if decision.call is None:
                model_may_call = False  # the rule says: answer directly
            else:
                async with aclosing(
                    self._tool_step([decision.call], "", conversation, timings, state)
                ) as results:
                    async for event in results:
                        yield event
                first_step = 1
        for step in range(first_step, self.options.max_tool_steps + 1):
            request = self.request(conversation, system, specs, step=step, deadline=state.deadline)
            if not model_may_call:
                request = replace(request, allow_tools=False)
            step_text: list[str] = []
            calls: list[ToolCall] = []
            async with aclosing(self.llm.stream(request)) as chunks:
                async for chunk in chunks:
                    if isinstance(chunk, TextChunk):
                        if state.first_delta_at is None:
                            state.first_delta_at = time.perf_counter()
                            timings.record("llm_ttft", (state.first_delta_at - llm_started) * 1000)
                        step_text.append(chunk.text)
                        state.reply_parts.append(chunk.text)
                        yield TextDelta(chunk.text)
                    else:
                        calls.append(chunk)
            state.answered_by = self.llm.answered_by().name
            if request.allow_tools and (calls or (decision is None and step == 0)):
                # The model had the choice: a call, or (when no rule spoke) answering directly.
                made = [model_decision([call]) for call in calls] or [model_decision([])]
                state.details.setdefault("tool_decisions", []).extend(d.as_json() for d in made)
            if not calls:
                return
            if step == self.options.max_tool_steps:
                break
            # The model's words before a tool call are part of the history, not the reply.
            if step_text:
                del state.reply_parts[-len(step_text) :]
            async with aclosing(
                self._tool_step(calls, "".join(step_text), conversation, timings, state)
            ) as results:
                async for event in results:
                    yield event
        yield Notice("stopped calling tools: the step limit was reached", level="warning")

    async def _tool_step(
        self,
        calls: list[ToolCall],
        said: str,
        conversation: Conversation,
        timings: TurnTimings,
        state: TurnState,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Record one step's calls (a rule's or the LLM's) in the history, then run them."""
        conversation.add_assistant(said, tool_calls=calls)
        state.tool_calls.extend(calls)
        async with aclosing(self._run_tools(calls, conversation, timings, state.user)) as results:
            async for event in results:
                yield event

    def _route(self, conversation: Conversation, specs: Sequence[ToolSpec]) -> ToolDecision | None:
        """The rules' tool decision for the latest user message, or ``None`` (the LLM decides)."""
        if self.tool_router is None or not specs or self.options.max_tool_steps < 1:
            return None
        text = next((m.content for m in reversed(conversation.messages) if m.role == "user"), "")
        return self.tool_router.decide(text, specs)

    async def _run_tools(
        self,
        calls: Sequence[ToolCall],
        conversation: Conversation,
        timings: TurnTimings,
        user: str = "local",
    ) -> AsyncGenerator[TurnEvent, None]:
        """Run the calls of one step concurrently and record their results in order."""
        for call in calls:
            yield ToolCallStarted(call)

        async def timed(call: ToolCall) -> tuple[ToolResult, float]:
            begin = time.perf_counter()
            if self.tools is None:
                result = ToolResult(f"no tools are available to call {call.name!r}", is_error=True)
            elif self.limits is not None:
                async with self.limits.tool_call_slot(user):
                    result = await self.tools.call(call)
            else:
                result = await self.tools.call(call)
            return result, (time.perf_counter() - begin) * 1000

        with timings.measure("tool_time", accumulate=True):
            running = asyncio.ensure_future(asyncio.gather(*(timed(call) for call in calls)))
            try:
                delay = self.options.filler_after_s
                if delay is not None and not (await asyncio.wait({running}, timeout=delay))[0]:
                    # Still running: the voice layer speaks this, so the user hears no dead air.
                    yield FillerSpeech(self.options.filler_text)
                outcomes = await running
            finally:
                # A consumer that stops here (barge-in) cancels the calls still in flight.
                if not running.done():
                    running.cancel()
                    with suppress(asyncio.CancelledError):
                        await running
        for call, (result, duration_ms) in zip(calls, outcomes, strict=True):
            conversation.add_tool_result(call, result)
            yield ToolCallFinished(call, result, duration_ms)
