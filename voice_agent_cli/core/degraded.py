"""When the LLM is down, or a fallback answers: degraded mode and failover notices.

::

    every provider failing ─► DegradedMode.turn: a cached reply for these very
            │                 words, or the profile's degraded reply; a warning once
            ▼
    a turn answered again ──► "back to normal service" (once)

    a fallback answering ───► "<primary> is unavailable: answering with <fallback>"
                              (once per change of who answers)

While degraded, the agent turns tools and experts off and the buffer serves
what it can; the user is told each change once, never every turn.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import replace

from voice_agent_cli.contracts.events import (
    Notice,
    TextDelta,
    TurnCompleted,
    TurnEvent,
    TurnTimings,
)
from voice_agent_cli.contracts.turns import BufferHit, ReplyBuffer, TurnContext
from voice_agent_cli.llm.base import LLM


class DegradedMode:
    """Whether the agent is answering without its LLM, and who was last announced."""

    def __init__(self, llm: LLM, degraded_reply: str, buffer: ReplyBuffer | None = None) -> None:
        self.llm = llm
        self.degraded_reply = degraded_reply
        self.buffer = buffer
        #: True while every LLM provider is failing (the user was told once).
        self.active = False
        self._announced_failover: str | None = None

    async def turn(
        self, turn_id: str, context: TurnContext, timings: TurnTimings, cause: Exception
    ) -> AsyncGenerator[TurnEvent, None]:
        """Answer without an LLM: a cached reply for these words, or the degraded notice."""
        if not self.active:
            self.active = True
            yield Notice(f"degraded mode: {cause}", level="warning")
        reply = self.degraded_reply
        hit: BufferHit | None = None
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

    def answered(self) -> list[Notice]:
        """The notices due after an LLM answered: back to normal, or a fallback answering."""
        notices = []
        if self.active:
            self.active = False
            notices.append(Notice("the language model is reachable again: back to normal service"))
        failover = self._failover_notice()
        if failover is not None:
            notices.append(failover)
        return notices

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
