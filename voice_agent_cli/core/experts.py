"""Expert advisors: consulted in parallel on complex questions, then synthesised.

Each advisor is an LLM with its own system prompt (and, if the profile says
so, its own provider and model), a timeout and a circuit breaker. The panel
consults the routed advisors at once; an advisor that fails, times out or is
behind an open breaker is left out, and the agent falls back to a direct LLM
reply only when nobody answered. Two slower modes have budgets of their own:
investigation (an advisor follows up on its own findings, depth-limited) and
validation (an advisor checks the draft answer before it is spoken).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from voice_agent_cli.contracts.messages import ChatMessage
from voice_agent_cli.core.settings import ExpertSettings, ExpertsSettings
from voice_agent_cli.errors import VAError
from voice_agent_cli.llm.base import LLM, LLMRequest
from voice_agent_cli.resilience import CircuitBreaker
from voice_agent_cli.tools.base import ToolProvider


@dataclass(frozen=True)
class ExpertOpinion:
    """What one advisor said (or why it said nothing), and how long it took."""

    name: str
    text: str
    duration_ms: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the advisor answered."""
        return self.error is None and bool(self.text.strip())

    def as_json(self) -> dict[str, object]:
        """The opinion as reported in ``--json`` (without its text)."""
        return {
            "name": self.name,
            "ms": round(self.duration_ms, 1),
            "ok": self.ok,
            **({"error": self.error} if self.error else {}),
        }


class ExpertAdvisor:
    """One advisor: an LLM with a role, a timeout and a breaker."""

    def __init__(
        self,
        settings: ExpertSettings,
        llm: LLM,
        *,
        breaker: CircuitBreaker | None = None,
        tools: ToolProvider | None = None,
        owns_llm: bool = False,
    ) -> None:
        self.settings = settings
        self.llm = llm
        self.breaker = breaker
        self.tools = tools if settings.use_tools else None
        #: True when the LLM was built for this advisor (and is closed with it).
        self.owns_llm = owns_llm

    @property
    def name(self) -> str:
        """The advisor's name, as configured."""
        return self.settings.name

    async def ask(
        self, messages: Sequence[ChatMessage], *, timeout_s: float | None = None
    ) -> ExpertOpinion:
        """Ask the advisor; failures come back as an opinion with ``error`` set."""
        begin = time.perf_counter()
        budget = timeout_s if timeout_s is not None else self.settings.timeout_s
        try:
            if self.breaker is not None:
                self.breaker.check()
            async with asyncio.timeout(budget):
                text = await self._answer(list(messages))
        except TimeoutError:
            self._record_failure("timeout")
            return self._opinion("", begin, f"timed out after {budget:g} s")
        except VAError as exc:
            if self.breaker is not None and "circuit open" not in str(exc):
                self.breaker.record_failure(type(exc).__name__)
            return self._opinion("", begin, str(exc))
        except asyncio.CancelledError:
            if self.breaker is not None:
                self.breaker.release()
            raise
        if self.breaker is not None:
            self.breaker.record_success()
        return self._opinion(text.strip(), begin, None)

    async def _answer(self, messages: list[ChatMessage]) -> str:
        """One answer, with at most one round of tool calls when allowed."""
        specs = self.tools.specs() if self.tools else ()
        request = LLMRequest(
            system=self.settings.system_prompt,
            messages=messages,
            tools=specs,
            temperature=0.3,
            max_output_tokens=self.settings.max_output_tokens,
        )
        text, calls = await self.llm.complete(request)
        if not calls or self.tools is None:
            return text
        messages.append(ChatMessage(role="assistant", content=text, tool_calls=tuple(calls)))
        for call in calls:
            result = await self.tools.call(call)
            messages.append(ChatMessage.for_tool_result(call, result))
        final, _ = await self.llm.complete(
            LLMRequest(
                system=self.settings.system_prompt,
                messages=messages,
                tools=specs,
                allow_tools=False,
                temperature=0.3,
                max_output_tokens=self.settings.max_output_tokens,
            )
        )
        return final

    def _record_failure(self, reason: str) -> None:
        if self.breaker is not None:
            self.breaker.record_failure(reason)

    def _opinion(self, text: str, begin: float, error: str | None) -> ExpertOpinion:
        return ExpertOpinion(self.name, text, (time.perf_counter() - begin) * 1000, error)


class ExpertPanel:
    """The advisors of a profile, and the ways of consulting them."""

    def __init__(self, settings: ExpertsSettings, advisors: Sequence[ExpertAdvisor]) -> None:
        self.settings = settings
        self.advisors = {advisor.name: advisor for advisor in advisors}

    async def consult(
        self, names: Sequence[str], question: str, history: Sequence[ChatMessage]
    ) -> list[ExpertOpinion]:
        """Ask the named advisors in parallel, each within its own timeout."""
        messages = [*history, ChatMessage(role="user", content=question)]
        chosen = [self.advisors[name] for name in names if name in self.advisors]
        return list(await asyncio.gather(*(advisor.ask(messages) for advisor in chosen)))

    async def investigate(
        self, names: Sequence[str], question: str, history: Sequence[ChatMessage]
    ) -> list[ExpertOpinion]:
        """Consult, then let the lead advisor follow up on its findings.

        Depth-limited (``investigation_depth`` follow-ups) and bounded by
        ``investigation_budget_s`` overall: what is found in time is kept.
        """
        deadline = time.perf_counter() + self.settings.investigation_budget_s
        opinions = await self.consult(names, question, history)
        lead = next((self.advisors[o.name] for o in opinions if o.ok), None)
        if lead is None:
            return opinions
        for step in range(1, self.settings.investigation_depth + 1):
            remaining = deadline - time.perf_counter()
            if remaining <= 0.05:
                break
            findings = "\n".join(f"- {o.name}: {o.text}" for o in opinions if o.ok)
            follow_up = ChatMessage(
                role="user",
                content=(
                    f"Question under investigation: {question}\nFindings so far:\n{findings}\n"
                    "Name the most important point the findings miss or get wrong, and "
                    "answer it briefly. If nothing is missing, reply DONE."
                ),
            )
            opinion = await lead.ask(
                [*history, follow_up], timeout_s=min(remaining, lead.settings.timeout_s)
            )
            if not opinion.ok or opinion.text.strip().upper().startswith("DONE"):
                break
            opinions.append(
                ExpertOpinion(f"{lead.name} (follow-up {step})", opinion.text, opinion.duration_ms)
            )
        return opinions

    async def validate(self, question: str, draft: str) -> ExpertOpinion | None:
        """Have the validator check ``draft``; its corrected answer, or None if approved."""
        name = self.settings.validator or next(iter(self.advisors), None)
        if name is None:
            return None
        check = ChatMessage(
            role="user",
            content=(
                f"Question: {question}\nDraft answer: {draft}\n"
                "If the draft is correct and complete, reply APPROVED. Otherwise reply with "
                "the corrected answer only, in the same short spoken style."
            ),
        )
        opinion = await self.advisors[name].ask(
            [check], timeout_s=self.settings.validation_budget_s
        )
        if not opinion.ok or opinion.text.strip().upper().startswith("APPROVED"):
            return None
        return opinion

    async def aclose(self) -> None:
        """Close the advisors' own LLMs (not the agent's, which they may share)."""
        closed: set[int] = set()
        for advisor in self.advisors.values():
            if advisor.owns_llm and id(advisor.llm) not in closed:
                closed.add(id(advisor.llm))
                await advisor.llm.aclose()


def synthesis_instructions(system_prompt: str, opinions: Sequence[ExpertOpinion]) -> str:
    """The main LLM's system prompt for turning the advisors' notes into one reply."""
    notes = "\n".join(f"- {o.name}: {o.text}" for o in opinions if o.ok)
    return (
        f"{system_prompt}\n\nYour expert advisors were consulted on the user's latest "
        f"question. Their notes:\n{notes}\n\nCombine what is useful in them into one short "
        "answer in your own voice. Do not mention the advisors unless the user asked for them."
    )
