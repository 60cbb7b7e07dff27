"""Text from outside, made safe once, where it enters va.

Command-line arguments, standard input and the REPL hand va whatever bytes the
user's terminal or pipe holds. Python turns bytes that are not UTF-8 into lone
surrogates (``'caf\\udce9'`` for ``b'caf\\xe9'``): valid ``str`` objects that
then blow up far from where they came in, in a tokenizer, a SQLite bind or a
JSON encoder. :func:`clean_text` turns every such character into U+FFFD (the
replacement character, what a UTF-8 decoder with ``errors="replace"`` gives),
so nothing further down ever meets one.

It is applied at the edges: ``va``'s ``main`` (the argument vector), the
readers of standard input and the REPL, and the agent core's
:meth:`~voice_agent_cli.core.agent.Agent.run_turn` (for programs that embed
va). Applying it twice changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import BinaryIO

REPLACEMENT = "\ufffd"

_SURROGATES = range(0xD800, 0xE000)
#: The range ``surrogateescape`` maps undecodable bytes 0x80-0xFF to.
_ESCAPED_BYTES = range(0xDC80, 0xDD00)


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced: always encodable as UTF-8.

    Bytes smuggled in by ``surrogateescape`` are decoded again as UTF-8, so a
    valid sequence split into escapes (a UTF-8 argument read in the C locale)
    comes back whole, and an invalid byte becomes one U+FFFD.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return text  # the common case: nothing to do
    raw = bytearray()
    for char in text:
        code = ord(char)
        if code in _ESCAPED_BYTES:
            raw.append(code - 0xDC00)
        elif code in _SURROGATES:
            raw += REPLACEMENT.encode("utf-8")
        else:
            raw += char.encode("utf-8")
    return raw.decode("utf-8", errors="replace")


def json_line(data: object) -> str:
    """``data`` as one line of JSON (no newline), always encodable, whatever a provider sent."""
    return clean_text(json.dumps(data, ensure_ascii=False, default=str))


def clean_argv(argv: list[str]) -> list[str]:
    """The argument vector with :func:`clean_text` applied to every argument."""
    return [clean_text(arg) for arg in argv]


def decode_lines(stream: BinaryIO) -> Iterator[str]:
    """Lines of a byte stream as text (without the line end), invalid UTF-8 replaced.

    Decoding line by line means one bad byte costs one character, never the
    rest of the input.
    """
    for raw in stream:
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
