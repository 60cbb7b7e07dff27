"""The agent core: one turn of conversation, the same for every command.

A turn takes the user's text and yields :mod:`~voice_agent_cli.contracts.events`:
text deltas as the reply is generated, tool calls as they run, and a final
:class:`~voice_agent_cli.contracts.events.TurnCompleted` with the reply, the path
that served it and the stage timings.

The flow (each step a seam another module plugs into)::

    buffer lookup ──hit─────────────────────────────────────────────────┐
        │ miss                                                          │
        ▼                                                               ▼
    tool detection: a rule, or the LLM decides ─► tools ─► LLM ... (bounded) ─► reply
                                                                        │
                                              buffer store, under the LLM that answered

A consumer that stops reading (barge-in, Ctrl-C) closes the turn: the partial
reply is kept in the history, marked interrupted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing, suppress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from voice_agent_cli.contracts.events import (
    FillerSpeech,
    Notice,
    ReplySource,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnCompleted,
    TurnEvent,
    TurnTimings,
)
from voice_agent_cli.contracts.messages import ChatMessage, ToolCall, ToolResult, ToolSpec
from voice_agent_cli.contracts.turns import ReplyBuffer, TurnContext
from voice_agent_cli.core.conversation import Conversation
from voice_agent_cli.core.experts import synthesis_instructions
from voice_agent_cli.core.router import SIMPLE, Route
from voice_agent_cli.core.tool_router import ToolDecision, model_decision
from voice_agent_cli.errors import CircuitOpenError, LLMError, LLMNoAnswer, VAError
from voice_agent_cli.llm.base import LLM, LLMRequest, TextChunk
from voice_agent_cli.observe import ids, metrics
from voice_agent_cli.resilience import Deadline
from voice_agent_cli.text import clean_text
from voice_agent_cli.tools.base import ToolProvider

if TYPE_CHECKING:
    from voice_agent_cli.core.experts import ExpertPanel
    from voice_agent_cli.core.router import ComplexityRouter
    from voice_agent_cli.core.tool_router import ToolRouter
    from voice_agent_cli.ratelimit import RateLimits
    from voice_agent_cli.resilience import CircuitBreakers

_logger = logging.getLogger("va.agent")

#: Something that watches every event of every turn (metrics, logs, dashboards).
TurnObserver = Callable[[TurnEvent], None]


@dataclass
class AgentOptions:
    """How the agent behaves, independent of which LLM answers."""

    system_prompt: str
    temperature: float = 0.2
    max_output_tokens: int = 512
    max_tool_steps: int = 4
    max_messages: int = 20
    max_history_tokens: int = 32000
    #: Say ``filler_text`` when a step's tool calls run longer than this (None = never).
    filler_after_s: float | None = None
    filler_text: str = "One moment, let me check."
    degraded_reply: str = (
        "Sorry, I can't reach my language model right now. Please try again in a little while."
    )
    #: The longest a turn waits for the LLM in all (retries and failover included).
    turn_timeout_s: float | None = None


class _Answered:
    """Marker: the experts' path produced the reply (internal to the agent)."""


def _is_outage(exc: Exception) -> bool:
    """An error that says the LLM is unreachable, not that the request was wrong."""
    return isinstance(exc, CircuitOpenError) or (isinstance(exc, LLMError) and exc.retryable)


@dataclass
class _TurnState:
    """What a turn has produced so far (so an interrupted turn can be recorded)."""

    user: str
    reply_parts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    first_delta_at: float | None = None
    source: ReplySource = "llm"
    details: dict[str, Any] = field(default_factory=dict)
    #: When the LLM must have answered (``AgentOptions.turn_timeout_s`` from the turn's start).
    deadline: Deadline | None = None
    #: The provider that really produced the reply (a fallback, when one answered).
    answered_by: str | None = None

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
        router: ComplexityRouter | None = None,
        experts: ExpertPanel | None = None,
        limits: RateLimits | None = None,
        breakers: CircuitBreakers | None = None,
        tool_router: ToolRouter | None = None,
    ) -> None:
        self.llm = llm
        self.options = options
        self.tools = tools
        self.buffer = buffer
        self.router = router
        self.experts = experts
        self.limits = limits
        #: Decides by rule which tool a turn needs, before the LLM is asked (None: the LLM).
        self.tool_router = tool_router
        #: Every circuit breaker of this agent (LLM, MCP servers, experts), for health views.
        self.breakers = breakers
        self.conversation = self.new_conversation()
        self._observers: list[TurnObserver] = []
        #: True while every LLM provider is failing: tools and experts are off,
        #: the buffer serves what it can, and the user was told once.
        self.degraded = False
        self._announced_failover: str | None = None

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

    async def warm_up(self) -> None:
        """Make the first turn cost what the later ones do (after :meth:`start`).

        The LLM evaluates the fixed start of every prompt (system prompt, tool
        list) ahead of time; ``va talk`` does it while the user speaks.
        """
        specs = self.tools.specs() if self.tools is not None else ()
        await self.llm.warm_up(self.options.system_prompt, specs)

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
        # The turn id lives in a context variable from here on, so that every log
        # record and span of this turn, whichever component makes it, carries it.
        turn_id = ids.new_id()
        bound = ids.bind_turn(turn_id)
        try:
            # aclosing: a consumer that stops early must close the inner generators
            # now (so the interrupted reply is recorded), not whenever GC gets to them.
            async with (
                conversation.turn_lock,
                aclosing(self._turn(clean_text(text).strip(), speaker, conversation)) as events,
            ):
                async for event in events:
                    for observer in self._observers:
                        observer(event)
                    yield event
        except Exception as exc:
            if isinstance(exc, VAError) and exc.turn_id is None:
                exc.turn_id = turn_id  # so that --json can name the turn that failed
            metrics.increment("errors", type=type(exc).__name__)
            # No answer at all is worth a warning in the log file; other failures are
            # already reported where they happened.
            level = logging.WARNING if isinstance(exc, LLMNoAnswer) else logging.INFO
            _logger.log(level, "turn failed: %s", exc, extra={"error": type(exc).__name__})
            raise
        finally:
            ids.unbind_turn(bound)

    async def _turn(
        self, text: str, speaker: str | None, conversation: Conversation
    ) -> AsyncGenerator[TurnEvent, None]:
        turn_id = ids.TURN_ID.get() or uuid.uuid4().hex[:12]
        timings = TurnTimings()
        state = _TurnState(user=speaker or "local")
        if self.options.turn_timeout_s is not None:
            state.deadline = Deadline.after(self.options.turn_timeout_s, key="llm.turn_timeout_s")
        if self.limits is not None:
            self.limits.check_request(state.user)  # RateLimited: a clear refusal
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
                    turn_id, text, hit.reply, hit.layer, timings.as_dict(), llm=hit.llm
                )
                return

        user_message = conversation.add_user(text, speaker=speaker)
        try:
            async with aclosing(self._answer(text, conversation, timings, state)) as answer:
                async for event in answer:
                    yield event
        except (LLMError, CircuitOpenError) as exc:
            if state.reply_parts or state.tool_calls or not _is_outage(exc):
                self._record_failed_turn(conversation, user_message, state)
                raise
            # Every provider is down: degrade instead of failing the turn.
            conversation.forget_from(user_message)
            async with aclosing(self._degraded_turn(turn_id, context, timings, exc)) as events:
                async for event in events:
                    yield event
            return
        except BaseException:
            self._record_failed_turn(conversation, user_message, state)
            raise

        if self.degraded:
            self.degraded = False
            yield Notice("the language model is reachable again: back to normal service")
        failover = self._failover_notice()
        if failover is not None:
            yield failover
        reply = state.reply.strip()
        answered_by = state.answered_by or self.llm.name
        if not reply:
            # Never a silent empty reply: the user (and a script) is told.
            state.reply_parts.clear()  # white space is nothing said
            self._record_failed_turn(conversation, user_message, state)
            raise LLMNoAnswer(f"{answered_by} gave an empty reply", provider=answered_by)
        conversation.add_assistant(reply)
        timings.since_start("total")
        if self.buffer is not None:
            # Filed under the LLM that wrote it: a fallback's reply never answers
            # for the primary once the primary is back.
            answered = replace(context, llm=answered_by, tool_calls=tuple(state.tool_calls))
            await self.buffer.store(answered, reply)
        yield TurnCompleted(
            turn_id,
            text,
            reply,
            state.source,
            timings.as_dict(),
            llm=answered_by,
            tool_calls=tuple(call.name for call in state.tool_calls),
            details=state.details,
        )

    def _record_failed_turn(
        self, conversation: Conversation, user_message: ChatMessage, state: _TurnState
    ) -> None:
        if state.reply_parts or state.tool_calls:
            # Interrupted mid-reply (barge-in, Ctrl-C): keep what was said.
            conversation.add_assistant(state.reply, interrupted=True)
        else:
            conversation.forget_from(user_message)

    async def _answer(
        self, text: str, conversation: Conversation, timings: TurnTimings, state: _TurnState
    ) -> AsyncGenerator[TurnEvent, None]:
        """Route the question: straight to the LLM, or through the experts first."""
        route = SIMPLE
        if self.router is not None and self.experts is not None and not self.degraded:
            route = await self.router.route(text)
        if route.kind == "experts":
            answered = False
            async with aclosing(
                self._answer_with_experts(route, text, conversation, timings, state)
            ) as events:
                async for event in events:
                    if isinstance(event, _Answered):
                        answered = True
                    else:
                        yield event
            if answered:
                return
        async with aclosing(self._answer_with_llm(conversation, timings, state)) as events:
            async for event in events:
                yield event

    async def _answer_with_experts(
        self,
        route: Route,
        text: str,
        conversation: Conversation,
        timings: TurnTimings,
        state: _TurnState,
    ) -> AsyncGenerator[TurnEvent | _Answered, None]:
        """Consult the routed experts in parallel, then synthesise one reply.

        Yields :class:`_Answered` last when the experts' path produced the reply;
        otherwise (limit reached, nobody answered) the caller asks the LLM directly.
        """
        assert self.experts is not None
        state.details["route"] = {
            "kind": route.kind,
            "mode": route.mode,
            "why": list(route.reasons),
        }
        if self.limits is not None and not self.limits.allow_expert_consultation(state.user):
            yield Notice("expert consultation limit reached: answering directly", level="warning")
            state.details["experts"] = []
            return
        history = conversation.window()[:-1]
        consult = self.experts.investigate if route.mode == "investigate" else self.experts.consult
        with timings.measure("expert_time"):
            opinions = await consult(route.experts, text, history)
        state.details["experts"] = [opinion.as_json() for opinion in opinions]
        if not any(opinion.ok for opinion in opinions):
            yield Notice("the experts did not answer: answering directly", level="warning")
            return
        system = synthesis_instructions(self.options.system_prompt, opinions)
        state.source = "experts"
        if self.experts.settings.validation:
            async with aclosing(
                self._validated_reply(text, system, conversation, timings, state)
            ) as events:
                async for event in events:
                    yield event
        else:
            async with aclosing(
                self._answer_with_llm(conversation, timings, state, system=system, use_tools=False)
            ) as events:
                async for event in events:
                    yield event
        yield _Answered()

    async def _validated_reply(
        self,
        text: str,
        system: str,
        conversation: Conversation,
        timings: TurnTimings,
        state: _TurnState,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Draft, have an expert check it, and say the checked answer in one piece."""
        assert self.experts is not None
        llm_started = time.perf_counter()
        draft, _ = await self.llm.complete(
            self._request(conversation, system, (), deadline=state.deadline)
        )
        state.answered_by = self.llm.answered_by().name
        timings.record("llm_ttft", (time.perf_counter() - llm_started) * 1000)
        with timings.measure("validation"):
            correction = await self.experts.validate(text, draft)
        state.details["validated_by"] = correction.name if correction else "approved"
        final = correction.text if correction else draft
        state.reply_parts.append(final)
        yield TextDelta(final)

    async def _degraded_turn(
        self, turn_id: str, context: TurnContext, timings: TurnTimings, cause: Exception
    ) -> AsyncGenerator[TurnEvent, None]:
        """Answer without an LLM: a cached reply for these words, or the degraded notice."""
        if not self.degraded:
            self.degraded = True
            yield Notice(f"degraded mode: {cause}", level="warning")
        reply = self.options.degraded_reply
        hit = None
        written_by = None  # the notice: no LLM wrote it
        if self.buffer is not None:
            # Any cached answer to these very words beats no answer at all.
            hit = await self.buffer.lookup(replace(context, history=()))
            if hit is not None:
                reply, written_by = hit.reply, hit.llm
        yield TextDelta(reply)
        timings.since_start("total")
        yield TurnCompleted(
            turn_id,
            context.text,
            reply,
            "degraded",
            timings.as_dict(),
            llm=written_by,
            details={
                "error": str(cause),
                "exit_code": getattr(cause, "exit_code", 1),
                "cached": hit is not None,
            },
        )

    def _failover_notice(self) -> Notice | None:
        """Tell the user once when a fallback provider is answering for the main one."""
        active = self.llm.answered_by()
        if active.name == self.llm.name:
            self._announced_failover = None
            return None
        if self._announced_failover == active.name:
            return None
        self._announced_failover = active.name
        return Notice(f"{self.llm.name} is unavailable: answering with {active.name}")

    def _request(
        self,
        conversation: Conversation,
        system: str,
        specs: Sequence[ToolSpec],
        *,
        step: int = 0,
        deadline: Deadline | None = None,
    ) -> LLMRequest:
        return LLMRequest(
            deadline=deadline,
            system=system,
            messages=conversation.window(),
            tools=specs,
            allow_tools=bool(specs) and step < self.options.max_tool_steps,
            temperature=self.options.temperature,
            max_output_tokens=self.options.max_output_tokens,
        )

    async def _answer_with_llm(
        self,
        conversation: Conversation,
        timings: TurnTimings,
        state: _TurnState,
        *,
        system: str | None = None,
        use_tools: bool = True,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Tool detection, then the LLM <-> tools loop, bounded by ``max_tool_steps``."""
        specs: Sequence[ToolSpec] = ()
        if self.tools is not None and use_tools and not self.degraded:
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
            request = self._request(conversation, system, specs, step=step, deadline=state.deadline)
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
        state: _TurnState,
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
