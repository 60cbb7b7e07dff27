"""The agent core: one turn of conversation, the same for every command.

A turn takes the user's text and yields :mod:`~voice_agent_cli.core.events`:
text deltas as the reply is generated, tool calls as they run, and a final
:class:`~voice_agent_cli.core.events.TurnCompleted` with the reply, the path
that served it and the stage timings.

The flow (each step a seam another module plugs into)::

    buffer lookup ──hit──────────────────────────────────────┐
        │ miss                                               │
        ▼                                                    ▼
    LLM ─► tool calls? ─► tools ─► LLM ... (bounded) ─► reply ─► buffer store

A consumer that stops reading (barge-in, Ctrl-C) closes the turn: the partial
reply is kept in the history, marked interrupted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Protocol

from voice_agent_cli.core.conversation import Conversation
from voice_agent_cli.core.events import (
    Notice,
    ReplySource,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnCompleted,
    TurnEvent,
    TurnTimings,
)
from voice_agent_cli.core.messages import ChatMessage, ToolCall, ToolResult, ToolSpec
from voice_agent_cli.llm.base import LLM, LLMRequest, TextChunk
from voice_agent_cli.tools.base import ToolProvider

#: Something that watches every event of every turn (metrics, logs, dashboards).
TurnObserver = Callable[[TurnEvent], None]


@dataclass(frozen=True)
class TurnContext:
    """What a reply may depend on, handed to the response buffer to key its cache."""

    text: str
    llm: str
    system_prompt: str
    history: tuple[ChatMessage, ...]
    speaker: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class BufferHit:
    """A reply the buffer had ready, and which layer had it."""

    reply: str
    layer: ReplySource


class ReplyBuffer(Protocol):
    """Answers before the LLM is asked, and remembers what the LLM said."""

    async def lookup(self, context: TurnContext) -> BufferHit | None:
        """A ready reply for this turn, or ``None`` on a miss."""
        ...

    async def store(self, context: TurnContext, reply: str) -> None:
        """Remember an LLM reply (the buffer decides whether it may be reused)."""
        ...


@dataclass
class AgentOptions:
    """How the agent behaves, independent of which LLM answers."""

    system_prompt: str
    temperature: float = 0.7
    max_output_tokens: int = 512
    max_tool_steps: int = 4
    max_messages: int = 20
    max_history_tokens: int = 32000


@dataclass
class _TurnState:
    """What a turn has produced so far (so an interrupted turn can be recorded)."""

    reply_parts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    first_delta_at: float | None = None

    @property
    def reply(self) -> str:
        return "".join(self.reply_parts)


class Agent:
    """Answers turns of a conversation with an LLM, tools and a response buffer."""

    def __init__(
        self,
        llm: LLM,
        options: AgentOptions,
        *,
        tools: ToolProvider | None = None,
        buffer: ReplyBuffer | None = None,
    ) -> None:
        self.llm = llm
        self.options = options
        self.tools = tools
        self.buffer = buffer
        self.conversation = self.new_conversation()
        self._observers: list[TurnObserver] = []

    def new_conversation(self) -> Conversation:
        """An empty history with this agent's bounds (one per session or room)."""
        context_window = getattr(self.llm, "context_window", None)
        budget = self.options.max_history_tokens
        if context_window:
            # Leave room in the model's window for the system prompt and the reply.
            reserved = self.options.max_output_tokens + self.llm.count_tokens(
                self.options.system_prompt
            )
            budget = max(256, min(budget, context_window - reserved - 64))
        return Conversation(
            max_messages=self.options.max_messages,
            max_tokens=budget,
            count_tokens=self.llm.count_tokens,
        )

    def add_observer(self, observer: TurnObserver) -> None:
        """Have ``observer`` see every event of every turn."""
        self._observers.append(observer)

    def reset(self) -> None:
        """Forget the default conversation (``/reset``)."""
        self.conversation.clear()

    async def start(self) -> None:
        """Get ready to answer fast (loads a local model ahead of the first turn)."""
        await self.llm.start()

    async def aclose(self) -> None:
        """Release the LLM (tools and buffer are closed by whoever opened them)."""
        await self.llm.aclose()

    async def reply(
        self,
        text: str,
        *,
        speaker: str | None = None,
        conversation: Conversation | None = None,
    ) -> TurnCompleted:
        """Run a whole turn and return its completion (for scripts and tests)."""
        completed: TurnCompleted | None = None
        async for event in self.run_turn(text, speaker=speaker, conversation=conversation):
            if isinstance(event, TurnCompleted):
                completed = event
        assert completed is not None
        return completed

    async def run_turn(
        self,
        text: str,
        *,
        speaker: str | None = None,
        conversation: Conversation | None = None,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Answer one user turn, yielding events as they happen."""
        if conversation is None:
            conversation = self.conversation
        # aclosing: a consumer that stops early must close the inner generators
        # now (so the interrupted reply is recorded), not whenever GC gets to them.
        async with (
            conversation.turn_lock,
            aclosing(self._turn(text.strip(), speaker, conversation)) as events,
        ):
            async for event in events:
                for observer in self._observers:
                    observer(event)
                yield event

    async def _turn(
        self, text: str, speaker: str | None, conversation: Conversation
    ) -> AsyncGenerator[TurnEvent, None]:
        turn_id = uuid.uuid4().hex[:12]
        timings = TurnTimings()
        context = TurnContext(
            text=text,
            llm=self.llm.name,
            system_prompt=self.options.system_prompt,
            history=conversation.messages,
            speaker=speaker,
        )

        if self.buffer is not None:
            with timings.measure("buffer_lookup"):
                hit = await self.buffer.lookup(context)
            if hit is not None:
                conversation.add_user(text, speaker=speaker)
                conversation.add_assistant(hit.reply)
                yield TextDelta(hit.reply)
                timings.since_start("total")
                yield TurnCompleted(
                    turn_id, text, hit.reply, hit.layer, timings.as_dict(), llm=None
                )
                return

        user_message = conversation.add_user(text, speaker=speaker)
        state = _TurnState()
        try:
            async with aclosing(self._answer_with_llm(conversation, timings, state)) as answer:
                async for event in answer:
                    yield event
        except BaseException:
            if state.reply_parts or state.tool_calls:
                # Interrupted mid-reply (barge-in, Ctrl-C): keep what was said.
                conversation.add_assistant(state.reply, interrupted=True)
            else:
                conversation.forget_from(user_message)
            raise

        reply = state.reply.strip()
        conversation.add_assistant(reply)
        timings.since_start("total")
        if self.buffer is not None and reply:
            context = TurnContext(
                text=text,
                llm=self.llm.name,
                system_prompt=self.options.system_prompt,
                history=context.history,
                speaker=speaker,
                tool_calls=tuple(state.tool_calls),
            )
            await self.buffer.store(context, reply)
        yield TurnCompleted(
            turn_id,
            text,
            reply,
            "llm",
            timings.as_dict(),
            llm=self.llm.name,
            tool_calls=tuple(call.name for call in state.tool_calls),
        )

    async def _answer_with_llm(
        self, conversation: Conversation, timings: TurnTimings, state: _TurnState
    ) -> AsyncGenerator[TurnEvent, None]:
        """The LLM <-> tools loop, bounded by ``max_tool_steps``."""
        specs: Sequence[ToolSpec] = self.tools.specs() if self.tools else ()
        llm_started = time.perf_counter()
        for step in range(self.options.max_tool_steps + 1):
            request = LLMRequest(
                system=self.options.system_prompt,
                messages=conversation.window(),
                tools=specs,
                allow_tools=bool(specs) and step < self.options.max_tool_steps,
                temperature=self.options.temperature,
                max_output_tokens=self.options.max_output_tokens,
            )
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
            if not calls:
                return
            if step == self.options.max_tool_steps:
                break
            # The model's words before a tool call are part of the history, not the reply.
            if step_text:
                del state.reply_parts[-len(step_text) :]
            conversation.add_assistant("".join(step_text), tool_calls=calls)
            state.tool_calls.extend(calls)
            async with aclosing(self._run_tools(calls, conversation, timings)) as results:
                async for event in results:
                    yield event
        yield Notice("stopped calling tools: the step limit was reached", level="warning")

    async def _run_tools(
        self, calls: Sequence[ToolCall], conversation: Conversation, timings: TurnTimings
    ) -> AsyncGenerator[TurnEvent, None]:
        """Run the calls of one step concurrently and record their results in order."""
        for call in calls:
            yield ToolCallStarted(call)

        async def timed(call: ToolCall) -> tuple[ToolResult, float]:
            begin = time.perf_counter()
            if self.tools is None:
                result = ToolResult(f"no tools are available to call {call.name!r}", is_error=True)
            else:
                result = await self.tools.call(call)
            return result, (time.perf_counter() - begin) * 1000

        with timings.measure("tool_time", accumulate=True):
            outcomes = await asyncio.gather(*(timed(call) for call in calls))
        for call, (result, duration_ms) in zip(calls, outcomes, strict=True):
            conversation.add_tool_result(call, result)
            yield ToolCallFinished(call, result, duration_ms)
