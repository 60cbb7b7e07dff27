"""Complexity routing: does a question go straight to the LLM, or to the experts?

Cheap rules decide most questions in microseconds: an explicit request for the
experts, length, several questions in one, analysis words ("compare", "pros
and cons") and the advisors' domain keywords. When the profile asks for it, a
question the rules find borderline is classified by the LLM itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from voice_agent_cli.contracts.messages import ChatMessage
from voice_agent_cli.errors import VAError
from voice_agent_cli.llm.base import LLMRequest

if TYPE_CHECKING:
    from voice_agent_cli.core.settings import ExpertsSettings
    from voice_agent_cli.llm.base import LLM

_ANALYSIS = re.compile(
    r"\b(compare|comparison|trade-?offs?|pros and cons|versus|vs\.?|should (i|we)|strategy|"
    r"plan|evaluate|assess|recommend|implications?|risks?|why does|how would)\b"
)
_SPLIT_PARTS = re.compile(r"\?|;|\b(and also|as well as|additionally|secondly|second,|then)\b")


@dataclass(frozen=True)
class Route:
    """Where a question goes, and why."""

    kind: Literal["simple", "experts"]
    mode: Literal["consult", "investigate"] = "consult"
    experts: tuple[str, ...] = ()
    reasons: tuple[str, ...] = field(default=())


SIMPLE = Route("simple")


class ComplexityRouter:
    """Routes each buffer miss: simple questions to the LLM, complex ones to experts."""

    def __init__(self, settings: ExpertsSettings, classifier: LLM | None = None) -> None:
        self.settings = settings
        self.classifier = classifier if settings.classify_with_llm else None
        self._keywords = {
            advisor.name: [
                re.compile(rf"\b{re.escape(word.lower())}\b") for word in advisor.keywords
            ]
            for advisor in settings.advisors
        }

    async def route(self, text: str) -> Route:
        """Assess ``text``: the route, the experts to consult and the reasons."""
        if not self.settings.enabled or not self.settings.advisors:
            return SIMPLE
        lowered = " ".join(text.lower().split())
        reasons: list[str] = []
        score = 0
        triggered = any(trigger in lowered for trigger in self.settings.triggers)
        if triggered:
            reasons.append("asked for the experts")
        if len(lowered.split()) >= self.settings.complex_min_words:
            score += 1
            reasons.append("long question")
        if len([p for p in _SPLIT_PARTS.findall(lowered) if p]) >= 2:
            score += 1
            reasons.append("several parts")
        if _ANALYSIS.search(lowered):
            score += 1
            reasons.append("asks for analysis")
        investigate = any(word in lowered for word in self.settings.investigation_triggers)
        if investigate:
            score += 1
            reasons.append("asks for an investigation")
        matched = self._matching_experts(lowered)
        if matched:
            score += 1
            reasons.append("domain: " + ", ".join(matched))

        complex_question = triggered or score >= 2
        if not complex_question and score == 1 and self.classifier is not None:
            complex_question = await self._classify(text)
            if complex_question:
                reasons.append("the LLM judged it complex")
        if not complex_question:
            return Route("simple", reasons=tuple(reasons))

        names = matched or [advisor.name for advisor in self.settings.advisors]
        mode: Literal["consult", "investigate"] = "investigate" if investigate else "consult"
        return Route(
            "experts",
            mode=mode,
            experts=tuple(names[: self.settings.max_experts]),
            reasons=tuple(reasons),
        )

    def _matching_experts(self, lowered: str) -> list[str]:
        """Advisors whose keywords appear, most matches first."""
        hits = {
            name: sum(bool(pattern.search(lowered)) for pattern in patterns)
            for name, patterns in self._keywords.items()
        }
        return [name for name, count in sorted(hits.items(), key=lambda kv: -kv[1]) if count]

    async def _classify(self, text: str) -> bool:
        """One short LLM call; any failure counts as "simple" (the cheap path)."""
        assert self.classifier is not None
        request = LLMRequest(
            system=(
                "Classify the user's question. Reply with one word: COMPLEX if answering it "
                "well needs several areas of expertise or careful analysis, else SIMPLE."
            ),
            messages=[ChatMessage(role="user", content=text)],
            temperature=0.0,
            max_output_tokens=4,
        )
        try:
            answer, _ = await self.classifier.complete(request)
        except VAError:
            return False
        return "COMPLEX" in answer.upper()
