"""Not hearing itself: what the voice loop does with the microphone while the agent talks.

- ``aec``: each frame goes through the echo canceller, which subtracts what the
  sink played; the canceller muffles the first word of double talk, so speech
  starts at a lower probability while the agent talks (``barge_in_threshold``);
- ``half-duplex``: no canceller; the mic is ignored while the agent is audible,
  and ``half_duplex_tail_ms`` after (the room's echo), so no barge-in then;
- ``off``: headphones, files and rooms: frames pass as they are.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import AudioFrame
    from voice_agent_cli.speech.echo import EchoCanceller
    from voice_agent_cli.speech.endpointing import Endpointer
    from voice_agent_cli.speech.io import AudioSink
    from voice_agent_cli.speech.options import VoiceOptions


class SelfHearing:
    """Cleans or mutes microphone frames according to ``options.echo``."""

    def __init__(
        self,
        options: VoiceOptions,
        sink: AudioSink,
        endpointer: Endpointer,
        echo: EchoCanceller | None,
    ) -> None:
        self.options = options
        self.sink = sink
        self.endpointer = endpointer
        self.echo = echo
        self._audible_until = 0.0

    def listen(self, frame: AudioFrame) -> AudioFrame | None:
        """The frame to hear, or ``None`` while the loop must not listen (half-duplex)."""
        if self.echo is not None:
            frame = self.echo.process(frame)
            threshold = self.endpointer.options.threshold
            talking = self.sink.is_playing
            self.endpointer.start_threshold = (
                min(self.options.barge_in_threshold, threshold) if talking else threshold
            )
        if self.options.echo == "half-duplex" and self.agent_audible():
            if self.endpointer.in_speech:
                self.endpointer.reset()
            return None
        return frame

    def agent_audible(self) -> bool:
        """True while the agent's voice (or its echo, in half-duplex) may be in the room."""
        now = time.perf_counter()
        if self.sink.is_playing:
            self._audible_until = now + self.options.half_duplex_tail_ms / 1000
        return now < self._audible_until

    def may_barge_in(self) -> bool:
        """Half-duplex cannot hear the user over the agent, but can while it thinks."""
        return self.options.echo != "half-duplex" or not self.agent_audible()
