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

The agent is a short coordinator over named parts: the LLM and tool loop
(:mod:`.tool_loop`), the experts' path (:mod:`.consultation`, when the
router sends a question there), and degraded mode with its notices
(:mod:`.degraded`); the buffer is anything that speaks
:class:`~voice_agent_cli.contracts.turns.ReplyBuffer`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import TYPE_CHECKING

from voice_agent_cli.contracts.events import TextDelta, TurnCompleted, TurnEvent, TurnTimings
from voice_agent_cli.contracts.turns import ReplyBuffer, TurnContext
from voice_agent_cli.core.consultation import Consultation
from voice_agent_cli.core.conversation import Conversation
from voice_agent_cli.core.degraded import DegradedMode
from voice_agent_cli.core.options import AgentOptions, history_budget
from voice_agent_cli.core.router import SIMPLE
from voice_agent_cli.core.tool_loop import ToolLoop
from voice_agent_cli.core.turn_state import TurnState, is_outage
from voice_agent_cli.errors import CircuitOpenError, LLMError, LLMNoAnswer, VAError
from voice_agent_cli.llm.base import LLM
from voice_agent_cli.observe import ids
from voice_agent_cli.observe.metrics import Metrics
from voice_agent_cli.resilience import Deadline
from voice_agent_cli.text import clean_text
from voice_agent_cli.tools.base import ToolProvider

if TYPE_CHECKING:
    from voice_agent_cli.core.experts import ExpertPanel
    from voice_agent_cli.core.router import ComplexityRouter
    from voice_agent_cli.core.tool_router import ToolRouter
    from voice_agent_cli.ratelimit import RateLimits
    from voice_agent_cli.resilience import CircuitBreakers

__all__ = ["Agent", "AgentOptions", "TurnObserver"]

_logger = logging.getLogger("va.agent")

#: Something that watches every event of every turn (metrics, logs, dashboards).
TurnObserver = Callable[[TurnEvent], None]


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
        metrics: Metrics | None = None,
    ) -> None:
        self.llm = llm
        #: Where failed turns are counted (its own registry unless given the command's);
        #: the rest of a turn's figures come from its events, through the observers.
        self.metrics = metrics if metrics is not None else Metrics()
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
        #: The LLM <-> tools loop every LLM answer goes through.
        self.loop = ToolLoop(llm, options, tools=tools, limits=limits, tool_router=tool_router)
        #: The experts' path (None without experts).
        self.consultation = (
            Consultation(experts, self.loop, limits=limits) if experts is not None else None
        )
        #: Answering without the LLM while every provider fails, and the notices of it.
        self.degraded_mode = DegradedMode(llm, options.degraded_reply, buffer)

    @property
    def degraded(self) -> bool:
        """True while every LLM provider is failing: tools and experts are off,
        the buffer serves what it can, and the user was told once."""
        return self.degraded_mode.active

    def new_conversation(self) -> Conversation:
        """An empty history with this agent's bounds (one per session or room)."""
        return Conversation(
            max_messages=self.options.max_messages,
            max_tokens=history_budget(self.options, self.llm),
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
                aclosing(
                    self._turn(turn_id, clean_text(text).strip(), speaker, conversation)
                ) as events,
            ):
                async for event in events:
                    for observer in self._observers:
                        observer(event)
                    yield event
        except Exception as exc:
            if isinstance(exc, VAError) and exc.turn_id is None:
                exc.turn_id = turn_id  # so that --json can name the turn that failed
            self.metrics.increment("errors", type=type(exc).__name__)
            # No answer at all is worth a warning in the log file; other failures are
            # already reported where they happened.
            level = logging.WARNING if isinstance(exc, LLMNoAnswer) else logging.INFO
            _logger.log(level, "turn failed: %s", exc, extra={"error": type(exc).__name__})
            raise
        finally:
            ids.unbind_turn(bound)

    async def _turn(
        self, turn_id: str, text: str, speaker: str | None, conversation: Conversation
    ) -> AsyncGenerator[TurnEvent, None]:
        timings = TurnTimings()
        state = TurnState(user=speaker or "local")
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
            if state.said_something or not is_outage(exc):
                state.record_failure(conversation, user_message)
                raise
            # Every provider is down: degrade instead of failing the turn.
            conversation.forget_from(user_message)
            async with aclosing(self.degraded_mode.turn(turn_id, context, timings, exc)) as events:
                async for event in events:
                    yield event
            return
        except BaseException:
            state.record_failure(conversation, user_message)
            raise

        for notice in self.degraded_mode.answered():
            yield notice
        reply = state.reply.strip()
        answered_by = state.answered_by or self.llm.name
        if not reply:
            # Never a silent empty reply: the user (and a script) is told.
            state.reply_parts.clear()  # white space is nothing said
            state.record_failure(conversation, user_message)
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

    async def _answer(
        self, text: str, conversation: Conversation, timings: TurnTimings, state: TurnState
    ) -> AsyncGenerator[TurnEvent, None]:
        """Route the question: straight to the LLM, or through the experts first."""
        route = SIMPLE
        if self.router is not None and self.consultation is not None and not self.degraded:
            route = await self.router.route(text)
        if route.kind == "experts" and self.consultation is not None:
            async with aclosing(
                self.consultation.answer(route, text, conversation, timings, state)
            ) as events:
                async for event in events:
                    yield event
            if state.source == "experts":
                return  # the experts' path produced the reply
        use_tools = not self.degraded
        async with aclosing(
            self.loop.answer(conversation, timings, state, use_tools=use_tools)
        ) as events:
            async for event in events:
                yield event
