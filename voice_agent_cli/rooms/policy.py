"""Whom the agent answers in a room of several people.

- ``everyone``: every finished utterance of every participant is a question;
- ``participant``: only one participant (by identity) is listened to at all;
- ``addressed``: everyone is transcribed, but only an utterance that calls the
  agent by one of its names ("hey va, ...", "..., va?") is answered; the
  address is taken off the question (so "hey va, what time is it" meets the
  same ready reply as "what time is it").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from voice_agent_cli.rooms.settings import AnswerPolicyName

#: Words people put before a name when they call someone.
_GREETINGS = r"(?:hey|hi|hello|ok|okay|yo|oh|so|and)"


@dataclass(frozen=True)
class Decision:
    """Whether to answer an utterance, and the question to ask the agent."""

    answer: bool
    text: str
    reason: str = ""


class AnswerPolicy:
    """Decides, per participant and utterance, whether the agent answers."""

    def __init__(
        self,
        mode: AnswerPolicyName = "everyone",
        *,
        participant: str | None = None,
        names: Sequence[str] = ("va",),
    ) -> None:
        if mode == "participant" and not participant:
            raise ValueError("the participant policy needs a participant identity")
        self.mode = mode
        self.participant = participant
        self.names = tuple(names)
        alternatives = "|".join(
            r"\W+".join(re.escape(word) for word in name.split()) for name in self.names
        )
        name = rf"(?:{alternatives})"
        self._prefix = re.compile(rf"^\W*(?:{_GREETINGS}\W+)?{name}\b[\s,.!?:;-]*", re.IGNORECASE)
        self._suffix = re.compile(rf"[\s,;:-]*\b{name}\W*$", re.IGNORECASE)
        self._anywhere = re.compile(rf"\b{name}\b", re.IGNORECASE)

    def describe(self) -> str:
        """The policy in a few words, for the view and the logs."""
        if self.mode == "participant":
            return f"answering only {self.participant}"
        if self.mode == "addressed":
            return f"answering when called {' / '.join(repr(n) for n in self.names[:2])}"
        return "answering everyone"

    def listens_to(self, identity: str) -> bool:
        """Whether ``identity``'s speech is transcribed at all."""
        return self.mode != "participant" or identity == self.participant

    def decide(self, identity: str, text: str) -> Decision:
        """Answer ``text`` said by ``identity``? And with which question."""
        text = text.strip()
        if not self.listens_to(identity):
            return Decision(False, text, f"only {self.participant} is answered")
        if self.mode != "addressed":
            return Decision(True, text)
        stripped = self._prefix.sub("", text, count=1)
        if stripped == text:
            question = self._suffix.sub("", text, count=1)
            if question != text:
                return Decision(True, _tidy(question) or text)
            if self._anywhere.search(text):
                return Decision(True, text)
            return Decision(False, text, "not addressed to the agent")
        return Decision(True, _tidy(stripped) or text)


def _tidy(text: str) -> str:
    """A question whose address was cut off: capitalised, with its punctuation."""
    text = text.strip(" ,;:-")
    return text[:1].upper() + text[1:] if text else text
