"""Reply templates: fill ``{time}``, ``{date}`` and a pattern's groups into a ready reply.

A template is parsed once, when the profile is loaded; rendering joins
pre-split pieces, so a pre-buffered reply costs microseconds. Literal braces
are written ``{{`` and ``}}``, as in Python's ``str.format``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

#: Values computed from the clock when a reply is said.
CLOCK_FIELDS: dict[str, Callable[[datetime], str]] = {
    "time": lambda now: f"{now.hour % 12 or 12}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}",
    "time24": lambda now: f"{now.hour:02d}:{now.minute:02d}",
    "date": lambda now: f"{now:%B} {now.day}, {now.year}",
    "weekday": lambda now: f"{now:%A}",
    "year": lambda now: str(now.year),
}


@dataclass(frozen=True)
class ReplyTemplate:
    """A reply split into literal text and the fields to fill in."""

    source: str
    pieces: tuple[tuple[str, str | None], ...]

    @classmethod
    def parse(cls, text: str) -> ReplyTemplate:
        """Split ``text``; raises ``ValueError`` on unbalanced braces or format specs."""
        pieces: list[tuple[str, str | None]] = []
        for literal, field, spec, conversion in string.Formatter().parse(text):
            if spec or conversion:
                raise ValueError(f"use plain {{name}} fields in a reply, not {{{field}:{spec}}}")
            pieces.append((literal, field))
        return cls(text, tuple(pieces))

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the fields used, in order."""
        return tuple(field for _, field in self.pieces if field is not None)

    @property
    def uses_clock(self) -> bool:
        """Whether rendering needs the current time."""
        return any(field in CLOCK_FIELDS for field in self.fields)

    def render(self, now: Callable[[], datetime], match: re.Match[str] | None = None) -> str:
        """The reply with every field filled in (a group that did not match is empty)."""
        if len(self.pieces) == 1 and self.pieces[0][1] is None:
            return self.pieces[0][0]
        moment = now() if self.uses_clock else None
        out: list[str] = []
        for literal, field in self.pieces:
            out.append(literal)
            if field is None:
                continue
            if field in CLOCK_FIELDS:
                assert moment is not None
                out.append(CLOCK_FIELDS[field](moment))
            elif match is not None:
                group = match.group(int(field) if field.isdigit() else field)
                out.append(group or "")
        return "".join(out)


def check_response(phrases: Sequence[str], pattern: str | None, reply: str) -> None:
    """Validate one pre-buffered response; ``ValueError`` says what is wrong."""
    if bool(phrases) == (pattern is not None):
        raise ValueError("give either 'phrases' (exact) or 'pattern' (a regex), not both")
    if any(not phrase.strip() for phrase in phrases):
        raise ValueError("a phrase is empty")
    template = ReplyTemplate.parse(reply)
    groups: set[str] = set()
    if pattern is not None:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from None
        groups = {str(number) for number in range(compiled.groups + 1)} | set(compiled.groupindex)
    for field in template.fields:
        if field not in CLOCK_FIELDS and field not in groups:
            known = ", ".join(sorted({*CLOCK_FIELDS, *groups}))
            raise ValueError(f"unknown field {{{field}}} in the reply (known: {known})")
