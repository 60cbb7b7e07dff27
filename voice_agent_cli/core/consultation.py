"""The experts' path of a turn: consult the routed advisors, then answer from their opinions.

::

    Route(kind="experts") ─► rate limit? ─no─► Notice, the LLM answers directly
            │
            ▼
    ExpertPanel.consult / .investigate (in parallel) ─► nobody answered? ─► Notice, ditto
            │ opinions
            ▼
    synthesis_instructions ─► validation on? ──no──► the LLM streams the reply (no tools)
                                   │ yes
                                   ▼
                  draft (whole) ─► an expert checks it ─► the checked reply, in one piece

The advisors themselves live in :mod:`.experts`; the router that sends a
question here in :mod:`.router`. After :meth:`Consultation.answer`, the turn's
``state.source`` is ``"experts"`` when this path produced the reply; otherwise
the caller asks the LLM directly.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING

from voice_agent_cli.contracts.events import Notice, TextDelta, TurnEvent, TurnTimings
from voice_agent_cli.core.conversation import Conversation
from voice_agent_cli.core.experts import ExpertPanel, synthesis_instructions
from voice_agent_cli.core.router import Route
from voice_agent_cli.core.tool_loop import ToolLoop
from voice_agent_cli.core.turn_state import TurnState

if TYPE_CHECKING:
    from voice_agent_cli.ratelimit import RateLimits


class Consultation:
    """Answers a turn the router sent to the experts, through the agent's LLM."""

    def __init__(
        self, panel: ExpertPanel, loop: ToolLoop, *, limits: RateLimits | None = None
    ) -> None:
        self.panel = panel
        self.loop = loop
        self.limits = limits

    async def answer(
        self,
        route: Route,
        text: str,
        conversation: Conversation,
        timings: TurnTimings,
        state: TurnState,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Consult the routed experts in parallel, then synthesise one reply.

        Sets ``state.source`` to ``"experts"`` when this path produces the reply;
        otherwise (limit reached, nobody answered) the caller asks the LLM directly.
        """
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
        consult = self.panel.investigate if route.mode == "investigate" else self.panel.consult
        with timings.measure("expert_time"):
            opinions = await consult(route.experts, text, history)
        state.details["experts"] = [opinion.as_json() for opinion in opinions]
        if not any(opinion.ok for opinion in opinions):
            yield Notice("the experts did not answer: answering directly", level="warning")
            return
        system = synthesis_instructions(self.loop.options.system_prompt, opinions)
        state.source = "experts"
        if self.panel.settings.validation:
            replying = self._validated_reply(text, system, conversation, timings, state)
        else:
            replying = self.loop.answer(
                conversation, timings, state, system=system, use_tools=False
            )
        async with aclosing(replying) as events:
            async for event in events:
                yield event

    async def _validated_reply(
        self,
        text: str,
        system: str,
        conversation: Conversation,
        timings: TurnTimings,
        state: TurnState,
    ) -> AsyncGenerator[TurnEvent, None]:
        """Draft, have an expert check it, and say the checked answer in one piece."""
        llm = self.loop.llm
        llm_started = time.perf_counter()
        draft, _ = await llm.complete(
            self.loop.request(conversation, system, (), deadline=state.deadline)
        )
        state.answered_by = llm.answered_by().name
        timings.record("llm_ttft", (time.perf_counter() - llm_started) * 1000)
        with timings.measure("validation"):
            correction = await self.panel.validate(text, draft)
        state.details["validated_by"] = correction.name if correction else "approved"
        final = correction.text if correction else draft
        state.reply_parts.append(final)
        yield TextDelta(final)
