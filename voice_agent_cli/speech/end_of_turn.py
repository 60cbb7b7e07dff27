"""When the user's turn is over: how much silence to wait, from what the words say.

A fixed end-of-turn silence is a bad compromise: short enough to answer a
complete question quickly cuts people off in the middle of a sentence, long
enough not to cut them off makes every answer late. The voice loop knows the
words before the silence has run out (the speculative transcript of the
pause), so the silence it waits for depends on them:

- words that trail off ("... and", "I want to", a comma): ``unfinished_ms``;
- a complete sentence (Whisper closed it with ``?``, ``!`` or ``.``): ``complete_ms``;
- anything else (no punctuation, no words yet): the endpointer's own silence.

Whisper often closes a cut-off phrase with "...", a full stop or even a
question mark ("What is the capital of?"): punctuation after a word where
speakers rarely stop does not make the sentence complete.

Words can trail off without such a word ("Can you tell me", "I would like to
book a table"): when the voice loop has a :mod:`.turn_detector`, a language
model's probability that the sentence ends there (below ``unfinished_below``)
marks the words unfinished too, whatever Whisper's punctuation says.
"""

from __future__ import annotations

import re
from typing import Literal

#: What the words say of the end of the turn.
Verdict = Literal["complete", "unfinished", "open"]

#: Words after which a sentence is rarely over: wait longer before answering.
_UNFINISHED = re.compile(
    r"(\b(and|or|but|so|because|the|a|an|to|of|with|for|in|on|at|my|your|um|uh)|,)\s*$",
    re.IGNORECASE,
)


def sounds_unfinished(text: str) -> bool:
    """True when ``text`` stops where a speaker rarely stops (a conjunction, a comma)."""
    words = text.strip().rstrip(".…?! ")
    return bool(words) and (text.strip().endswith(("...", "…")) or bool(_UNFINISHED.search(words)))


def sounds_complete(text: str) -> bool:
    """True when ``text`` is a whole sentence: it ends with ``? ! .`` and does not trail off."""
    stripped = text.strip()
    return stripped.endswith(("?", "!", ".")) and not sounds_unfinished(stripped)


def verdict(
    text: str, end_probability: float | None = None, *, unfinished_below: float = 0.01
) -> Verdict:
    """What ``text`` says of the end of the turn; ``end_probability`` is the
    turn detector's score (``None``: no model, the punctuation rules alone)."""
    if sounds_unfinished(text):
        return "unfinished"
    if end_probability is not None and end_probability < unfinished_below:
        return "unfinished"
    return "complete" if sounds_complete(text) else "open"


def end_of_turn_silence(
    words: Verdict, *, default_ms: int, complete_ms: int, unfinished_ms: int
) -> int:
    """The silence (ms) that ends a turn whose words so far get the verdict ``words``."""
    if words == "unfinished":
        return max(default_ms, unfinished_ms)
    if words == "complete":
        return min(default_ms, complete_ms)
    return default_ms
