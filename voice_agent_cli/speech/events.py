"""What the voice loop tells its observers: state changes, transcripts, finished turns.

The loop never prints; ``va talk`` (and later ``va join``) render these events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from voice_agent_cli.contracts.events import VOICE_STAGES
from voice_agent_cli.observe import metrics

#: What the agent is doing: waiting for the user, working on a reply, or talking.
VoiceState = Literal["listening", "thinking", "speaking"]


@dataclass(frozen=True)
class StateChanged:
    """The agent moved to ``state``."""

    state: VoiceState


@dataclass(frozen=True)
class UserSpeaking:
    """Speech was detected (the user may be barging in)."""

    at: float


@dataclass(frozen=True)
class UserTranscript:
    """What the user said in the turn that just ended."""

    text: str


@dataclass(frozen=True)
class AgentText:
    """A piece of the agent's reply (text, as it streams in)."""

    text: str


@dataclass(frozen=True)
class AgentSpeech:
    """A sentence (or a filler phrase) started playing."""

    text: str
    filler: bool = False


@dataclass(frozen=True)
class BargeIn:
    """The user spoke over the agent: its audio was cut and the turn closed."""

    dropped_seconds: float


@dataclass(frozen=True)
class FalseInterruption:
    """User sound over the reply held it, but was no interruption: the reply played on.

    ``text`` is what was heard ("yeah", or nothing for a cough); ``paused_seconds``
    how long the reply was held.
    """

    text: str
    paused_seconds: float


@dataclass(frozen=True)
class VoiceNotice:
    """Something to tell the user outside the transcript."""

    message: str
    level: Literal["info", "warning", "error"] = "info"


#: The stages the pipeline itself measures (the agent core reports ``llm_ttft``).
PIPELINE_STAGES = tuple(stage for stage in VOICE_STAGES if stage != "llm_ttft")


@dataclass(frozen=True)
class VoiceTurn:
    """One finished (or interrupted) turn: both sides and the timings.

    ``reply`` is what the agent said aloud: when interrupted, the sentences
    that had started playing when the user barged in.
    """

    index: int
    user: str
    reply: str
    interrupted: bool
    timings: dict[str, float]
    source: str | None = None
    llm: str | None = None
    tool_calls: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def report_metrics(self) -> None:
        """Send the voice stages of this turn to the current metrics registry.

        Only the stages the pipeline measures: the agent core reports its own
        (``llm_ttft``, ``total``...) through its observer.
        """
        for stage in PIPELINE_STAGES:
            if stage in self.timings:
                metrics.observe(stage, self.timings[stage])

    def as_json(self) -> dict[str, Any]:
        """The JSON object ``va talk --json`` prints for the turn."""
        return {
            "turn": self.index,
            "user": self.user,
            "reply": self.reply,
            "source": self.source,
            "llm": self.llm,
            "tool_calls": list(self.tool_calls),
            "interrupted": self.interrupted,
            "timings": self.timings,
            **self.details,
        }


VoiceEvent = (
    StateChanged
    | UserSpeaking
    | UserTranscript
    | AgentText
    | AgentSpeech
    | BargeIn
    | FalseInterruption
    | VoiceNotice
    | VoiceTurn
)
