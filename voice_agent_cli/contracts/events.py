"""The one vocabulary of a turn: typed events, and the stage timings that travel with them.

The agent yields these; the commands render them (chat prints deltas, talk
speaks them, bench measures them), the observer (:mod:`voice_agent_cli.observe.turns`)
turns them into metrics, log records and spans, and ``--json`` prints
:meth:`TurnCompleted.as_json`. The core never prints.

Stage names are LiveKit Agents' where one exists, and are typed (:data:`Stage`):
a producer that misspells one fails ``mypy``, and every consumer (dashboard,
logs, bench, JSON) reads the same names::

    agent core:  buffer_lookup, llm_ttft, tool_time, expert_time, validation, total
    voice:       end_of_turn_delay, transcription_delay, tts_ttfb, e2e_latency

:class:`Notice` is the one "tell the user, outside the reply" event, with the
levels every layer needs (the room layer sends it too).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from voice_agent_cli.contracts.messages import ToolCall, ToolResult

#: Which path produced a reply.
ReplySource = Literal["prebuffered", "cache", "llm", "experts", "degraded"]

#: A stage of a turn, timed in milliseconds.
Stage = Literal[
    # The agent core (TurnTimings below).
    "buffer_lookup",  # the response buffer's lookup (hit or miss)
    "llm_ttft",  # from asking the LLM to its first text (LiveKit: LLMMetrics.ttft)
    "tool_time",  # tool calls, all steps together
    "expert_time",  # consulting the experts, in parallel
    "validation",  # an expert checking the draft
    "total",  # the whole turn, as the agent saw it
    # The voice loop (LiveKit: EOUMetrics, STTMetrics, TTSMetrics).
    "end_of_turn_delay",  # end of speech -> end of turn decided
    "transcription_delay",  # end of speech -> final transcript
    "tts_ttfb",  # reply text -> first audio
    "e2e_latency",  # end of speech -> first audio out
]

#: The stages the agent core measures.
AGENT_STAGES: tuple[Stage, ...] = (
    "buffer_lookup",
    "llm_ttft",
    "tool_time",
    "expert_time",
    "validation",
    "total",
)
#: The per-turn stages of the voice loop (``llm_ttft`` comes from the agent core).
VOICE_STAGES: tuple[Stage, ...] = (
    "end_of_turn_delay",
    "transcription_delay",
    "llm_ttft",
    "tts_ttfb",
    "e2e_latency",
)

#: Measured stages of one turn, in milliseconds, keyed by :data:`Stage` names.
#: A plain ``dict[str, float]``: JSON as it is, and layers add their stages to the
#: agent's (dict keys are invariant, so a ``dict[Stage, float]`` would not mix).
#: Producers write through :class:`TurnTimings`, whose methods take a :data:`Stage`.
StageTimings = dict[str, float]


class TurnTimings:
    """Stage durations of one turn, in milliseconds, measured on a monotonic clock.

    Stages follow LiveKit Agents' names where one exists (``llm_ttft``,
    ``tts_ttfb``, ``e2e_latency`` ...); ``total`` is the whole turn.
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.stages: StageTimings = {}

    def record(self, stage: Stage, milliseconds: float) -> None:
        """Set a stage's duration (the last value wins)."""
        self.stages[stage] = round(milliseconds, 3)

    def add(self, stage: Stage, milliseconds: float) -> None:
        """Add to a stage that happens several times in a turn (e.g. tool time)."""
        self.stages[stage] = round(self.stages.get(stage, 0.0) + milliseconds, 3)

    def since_start(self, stage: Stage) -> None:
        """Record ``stage`` as the time from the start of the turn until now."""
        self.record(stage, (time.perf_counter() - self.started) * 1000)

    @contextmanager
    def measure(self, stage: Stage, *, accumulate: bool = False) -> Iterator[None]:
        """Time the body of a ``with`` block as ``stage``."""
        begin = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - begin) * 1000
            (self.add if accumulate else self.record)(stage, elapsed)

    def as_dict(self) -> StageTimings:
        """The stages as a plain dict (a copy)."""
        return dict(self.stages)


@dataclass(frozen=True)
class TextDelta:
    """A piece of the reply, as soon as it is generated."""

    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    """The agent is about to run a tool the LLM asked for."""

    call: ToolCall


@dataclass(frozen=True)
class ToolCallFinished:
    """A tool call ended (successfully or not)."""

    call: ToolCall
    result: ToolResult
    duration_ms: float


@dataclass(frozen=True)
class Notice:
    """Something the user should be told once, outside the reply (e.g. degraded mode)."""

    message: str
    level: Literal["info", "warning", "error"] = "info"


@dataclass(frozen=True)
class FillerSpeech:
    """A short phrase to say while a slow tool runs, so a voice session has no dead air."""

    text: str


@dataclass(frozen=True)
class TurnCompleted:
    """The end of a turn: the whole reply, where it came from, and how long it took."""

    turn_id: str
    user_text: str
    reply: str
    source: ReplySource
    timings: StageTimings
    llm: str | None = None
    tool_calls: tuple[str, ...] = ()
    interrupted: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The turn as the JSON object that ``--json`` prints."""
        return {
            "turn_id": self.turn_id,
            "user": self.user_text,
            "reply": self.reply,
            "source": self.source,
            "llm": self.llm,
            "tool_calls": list(self.tool_calls),
            "interrupted": self.interrupted,
            "timings": self.timings,
            **self.details,
        }


TurnEvent = TextDelta | ToolCallStarted | ToolCallFinished | FillerSpeech | Notice | TurnCompleted
