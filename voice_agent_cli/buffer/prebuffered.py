"""Pre-buffered replies: answers ready before anyone asks (greetings, "what can you do").

Exact phrases are normalised once and looked up in a dict; patterns are
compiled once and tried in order against the normalised text (``fullmatch``,
so "hello" does not answer "hello, book me a flight"). The first entry that
matches wins; entries added with ``va cache add`` come before the profile's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from voice_agent_cli.buffer.normalize import normalize
from voice_agent_cli.buffer.templates import ReplyTemplate, check_response

Origin = Literal["profile", "custom"]


@dataclass(frozen=True)
class PrebufferedEntry:
    """One compiled response: its trigger (phrases or a pattern) and its reply template."""

    reply: ReplyTemplate
    phrases: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    origin: Origin = "profile"

    @classmethod
    def build(
        cls,
        *,
        reply: str,
        phrases: Iterable[str] = (),
        pattern: str | None = None,
        origin: Origin = "profile",
    ) -> PrebufferedEntry:
        """Validate and compile; raises ``ValueError`` with what is wrong."""
        phrases = tuple(phrases)
        check_response(phrases, pattern, reply)
        return cls(
            reply=ReplyTemplate.parse(reply),
            phrases=tuple(normalize(phrase) for phrase in phrases),
            pattern=re.compile(pattern) if pattern is not None else None,
            origin=origin,
        )

    @property
    def trigger(self) -> str:
        """The phrases (joined by `` | ``) or the pattern, as shown in listings."""
        return self.pattern.pattern if self.pattern is not None else " | ".join(self.phrases)

    def as_dict(self) -> dict[str, Any]:
        """The entry as plain data (for ``va cache list/export``)."""
        trigger: dict[str, Any] = (
            {"pattern": self.pattern.pattern}
            if self.pattern is not None
            else {"phrases": list(self.phrases)}
        )
        return {**trigger, "reply": self.reply.source, "origin": self.origin}


class PrebufferedResponses:
    """Every pre-buffered entry, indexed for a lookup that costs microseconds."""

    def __init__(self, entries: Iterable[PrebufferedEntry]) -> None:
        self.entries = tuple(entries)
        self._exact: dict[str, PrebufferedEntry] = {}
        self._patterns: list[PrebufferedEntry] = []
        for entry in self.entries:
            if entry.pattern is not None:
                self._patterns.append(entry)
            for phrase in entry.phrases:
                self._exact.setdefault(phrase, entry)  # earlier entries win

    def __len__(self) -> int:
        return len(self.entries)

    def reply_for(self, normalized: str, now: Callable[[], datetime]) -> str | None:
        """The ready reply for an already normalised utterance, or ``None``."""
        entry = self._exact.get(normalized)
        if entry is not None:
            return entry.reply.render(now)
        for entry in self._patterns:
            assert entry.pattern is not None
            match = entry.pattern.fullmatch(normalized)
            if match is not None:
                return entry.reply.render(now, match)
        return None
