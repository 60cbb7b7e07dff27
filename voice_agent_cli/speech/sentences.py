"""Cut a streamed reply into sentences, so each can be spoken as soon as it is complete.

Text arrives in small deltas (a word or a few characters at a time). A sentence
is complete once its end mark (. ! ? …) is followed by white space, which
keeps "3.5", "e.g." and "Mr. Smith" whole. A very long sentence is cut at a
comma so the first audio never waits for a run-on sentence.

The first audio of a streamed reply need not wait for its first sentence
either: with ``first_clause_words`` the reply's first piece ends at the first
clause mark (``, ; :``) or after that many words, so synthesis starts after a
few tokens. A reply that arrives whole (the response buffer, a cached reply)
is cut in sentences only, as it was synthesised ahead of time. Markdown the
model should not have produced anyway (``**``, ``#``, backticks, list
bullets) is removed so the voice does not read it out.
"""

from __future__ import annotations

import re

_END = re.compile(r"[.!?…]+[\"')\]]*\s+|\n\s*\n|\n(?=\s*[-*•\d])")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "a.m", "p.m"}
    | {"no", "fig", "approx"}
)
_CLAUSE = re.compile(r"\S+(?:\s+\S+)*?[,;:]\s+")
_MARKDOWN = re.compile(r"(\*\*|__|`+|^#+\s*|^\s*[-*•]\s+)", re.MULTILINE)


def speakable(text: str) -> str:
    """``text`` without markdown marks and with collapsed white space."""
    return " ".join(_MARKDOWN.sub("", text).split())


class SentenceSplitter:
    """Accumulates deltas and hands out complete sentences."""

    def __init__(
        self, *, max_chars: int = 160, min_chars: int = 2, first_clause_words: int = 0
    ) -> None:
        self.max_chars = max_chars
        self.min_chars = min_chars
        #: Cut a streamed reply's first piece after this many words (0: at sentences only).
        self.first_clause_words = first_clause_words
        self._buffer = ""
        self._first = True
        self._deltas = 0

    def push(self, delta: str) -> list[str]:
        """Add a delta; returns the sentences it completed (maybe none)."""
        self._buffer += delta
        self._deltas += 1
        sentences: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            sentence, self._buffer = self._buffer[:cut], self._buffer[cut:]
            self._first = False
            spoken = speakable(sentence)
            if len(spoken) >= self.min_chars:
                sentences.append(spoken)
        return sentences

    def flush(self) -> list[str]:
        """The rest of the text, once the reply is complete."""
        rest, self._buffer = speakable(self._buffer), ""
        return [rest] if len(rest) >= self.min_chars or any(c.isalnum() for c in rest) else []

    def _find_cut(self) -> int | None:
        for match in _END.finditer(self._buffer):
            if not self._is_abbreviation(match.start()):
                return match.end()
        if len(self._buffer) > self.max_chars:
            comma = max(
                self._buffer.rfind(", ", 0, self.max_chars),
                self._buffer.rfind("; ", 0, self.max_chars),
            )
            if comma > 0:
                return comma + 2
        if self._first and self.first_clause_words and self._deltas > 1:
            return self._first_clause()
        return None

    def _first_clause(self) -> int | None:
        """Where the first clause of a streamed reply ends (a clause mark, or N words)."""
        clause = _CLAUSE.match(self._buffer.lstrip())
        offset = len(self._buffer) - len(self._buffer.lstrip())
        if clause is not None and len(clause.group().split()) <= self.first_clause_words:
            return offset + clause.end()
        # N whole words, and the next one begun (so the N-th is not half a word).
        words = list(re.finditer(r"\S+", self._buffer))
        if len(words) > self.first_clause_words:
            return words[self.first_clause_words].start()
        return None

    def _is_abbreviation(self, end: int) -> bool:
        if end >= len(self._buffer) or self._buffer[end] != ".":
            return False
        words = self._buffer[:end].split()
        return bool(words) and words[-1].lower().rstrip(".") in _ABBREVIATIONS
