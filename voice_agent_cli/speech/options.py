"""What the voice loop is told: how it takes turns, and what it needs of the agent."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from voice_agent_cli.speech.endpointing import EndpointingOptions
from voice_agent_cli.speech.interruption import InterruptionOptions

if TYPE_CHECKING:
    from voice_agent_cli.contracts.events import TurnEvent
    from voice_agent_cli.core.conversation import Conversation
    from voice_agent_cli.speech.turn_detector import TurnDetector

EchoMode = Literal["aec", "half-duplex", "off"]


class TurnRunner(Protocol):
    """What the voice loop needs of the agent (:class:`~voice_agent_cli.core.agent.Agent`)."""

    conversation: Conversation

    def run_turn(self, text: str) -> AsyncGenerator[TurnEvent, None]:
        """Answer one user turn, yielding events; closing it interrupts the turn."""
        ...


@dataclass(frozen=True)
class VoiceOptions:
    """How the voice loop takes turns."""

    endpointing: EndpointingOptions = field(default_factory=EndpointingOptions)
    #: aec: cancel the agent's voice from the mic; half-duplex: ignore the mic while
    #: the agent speaks (no barge-in then); off: headphones, files, rooms.
    echo: EchoMode = "off"
    barge_in: bool = True
    #: Which speech over the reply is a real interruption (an "uh-huh" is not).
    interruption: InterruptionOptions = field(default_factory=InterruptionOptions)
    #: Speech probability that starts a barge-in while the agent talks through the
    #: echo canceller (which muffles the first word of double talk).
    barge_in_threshold: float = 0.35
    #: Half-duplex: keep ignoring the mic this long after playback (room echo).
    half_duplex_tail_ms: int = 300
    #: Transcribe during the end-of-turn silence, and start the reply then (held
    #: until the turn ends) when the words are a complete sentence.
    speculative_stt: bool = True
    #: Silence that ends a turn whose words so far sound unfinished ("... and").
    unfinished_silence_ms: int = 900
    #: Silence that ends a turn whose words are a complete sentence ("... Italy?").
    complete_silence_ms: int = 250
    #: Scores whether the words so far end a sentence (None: punctuation rules only).
    turn_detector: TurnDetector | None = None
    #: Below this P(end), the words trail off ("What is the capital of").
    unfinished_below: float = 0.01
    #: A streamed reply's first audio is its first clause, or this many words (0: a sentence).
    first_clause_words: int = 4
    #: Stop at a failed turn (files) or show the error and go on listening (a
    #: microphone). ``None``: stop for a polite source.
    stop_on_error: bool | None = None
