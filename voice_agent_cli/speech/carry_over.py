"""Carry-over: the words of a turn the user had not finished, heard again with the next.

When the user speaks on while the agent is still thinking, the turn in
progress is dropped (nothing was said yet) and its utterance is kept here;
the next utterance is heard as one with it, so "Book a table for two ...
at eight" is one question, not two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from voice_agent_cli.speech.endpointing import Utterance

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import Samples


class CarryOver:
    """Utterances waiting for the rest of what the user meant to say."""

    def __init__(self) -> None:
        self._utterances: list[Utterance] = []

    def keep(self, utterance: Utterance) -> None:
        """``utterance`` was not the end of what the user meant to say."""
        self._utterances.append(utterance)

    def audio_with(self, audio: Samples) -> Samples:
        """The kept audio followed by ``audio``."""
        if not self._utterances:
            return audio

        return np.concatenate([*(u.audio for u in self._utterances), audio])

    def merged(self, utterance: Utterance) -> Utterance:
        """``utterance`` with the kept ones before it (and nothing kept any more)."""
        if not self._utterances:
            return utterance
        merged = Utterance(
            self.audio_with(utterance.audio),
            self._utterances[0].start,
            utterance.speech_end,
            utterance.decided_at,
        )
        self._utterances.clear()
        return merged
