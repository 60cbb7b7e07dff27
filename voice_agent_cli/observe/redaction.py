"""Redaction: never a secret or personal data in a log line, a span or a shown text.

The secret values va knows (API keys read from the environment, registered
with :func:`register_secret`), secret-looking patterns (Google keys, bearer
tokens, JWTs, ``key=value`` credentials, passwords in URLs) and personal data
(e-mail addresses, phone numbers) are replaced by markers. The log filter
(:mod:`.log`), the spans (:mod:`.tracing`) and what va shows of stored text
(:mod:`voice_agent_cli.privacy`) all use the one process-wide :data:`REDACTOR`.

Only the standard library (and va's stdlib-only :mod:`voice_agent_cli.masking`)
is imported here.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from voice_agent_cli.masking import SECRET_SHAPES

#: Environment variables whose values are secrets wherever they appear.
SECRET_ENV_VARS = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "OPENAI_API_KEY",
    "VA_REDIS_PASSWORD",
)

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Keys and tokens known by their shape (Google keys, JWTs, sk-..., ghp_...): the
    # same list --show-config masks with (voice_agent_cli.masking).
    *((shape, "[redacted-key]") for shape in SECRET_SHAPES),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 [redacted]"),
    # LiveKit-style API keys (with a digit: "APIConnectionError" is a class name, not a key).
    (re.compile(r"\bAPI(?=[A-Za-z]*\d)[A-Za-z0-9]{10,}\b"), "[redacted-key]"),
    # key=value / "key": "value" credentials, in URLs, headers and JSON.
    (
        re.compile(
            r"(?i)(\b(?:api[_-]?key|x-goog-api-key|key|secret|api[_-]?secret|token|access[_-]?token"
            r"|password|passwd|authorization)\b[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&}]{4,})"
        ),
        r"\1[redacted]",
    ),
    # Passwords in URLs: scheme://user:password@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]*:)([^\s@/]+)@"), r"\1[redacted]@"),
)

_EMAIL = re.compile(r"(?i)\b[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}\b")

# Phone numbers are recognised by the shapes people write them in, never by "many
# digits with separators": timestamps (cache.damaged-20261202-064641), paths, ids,
# versions, IP addresses, durations and the numbers in tool results stay readable.
# A shape must stand alone: not glued to a word, a path, an id or a longer number.
_STANDALONE_BEFORE = r"(?<![\w.:/\\\-+#@%$\u00a3\u20ac])"
_STANDALONE_AFTER = r"(?![\w/\\@%\u00b0]|[.:,\-]\d)"
_SEP = r"[ .\-]"
_PHONE = re.compile(
    _STANDALONE_BEFORE
    + "(?:"
    # International: a "+", a country code, then groups (+44 20 7946 0958, +14155550100).
    + r"\+\d{1,3}(?:"
    + _SEP
    + r"?\(?\d{1,4}\)?){1,6}"
    # North American: (415) 555-0100, 415-555-0100, 415.555.0100, 1-415-555-0100.
    + r"|(?:1"
    + _SEP
    + r")?(?:\(\d{3}\) ?|\d{3}"
    + _SEP
    + r")\d{3}"
    + _SEP
    + r"\d{4}"
    # National numbers with a trunk 0, grouped: 06 12 34 56 78, 020 7946 0958, 030 1234567.
    + r"|\(?0\d{1,4}\)?(?:"
    + _SEP
    + r"\d{2,4}){2,4}"
    + r"|0\d{2,4}[ \-]\d{5,8}"
    + ")"
    + _STANDALONE_AFTER
)
_DECIMAL = re.compile(r"^[+\-]?\d+\.\d+$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(char.isdigit() for char in text)
    if not 8 <= digits <= 15 or _DECIMAL.match(text) or _IPV4.match(text):
        return text  # too short or long for a phone, a decimal (+3.14159265), an IP address
    return "[phone]"


class Redactor:
    """Replaces secrets and personal data in text with markers."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, value: str | None) -> None:
        """Never show ``value`` (ignored when too short to be a real secret)."""
        if value and len(value.strip()) >= 6:
            with self._lock:
                self._secrets.add(value.strip())

    def add_environment_secrets(self, environ: Mapping[str, str] | None = None) -> None:
        """Register the values of the well-known secret variables that are set."""
        environ = os.environ if environ is None else environ
        for name in SECRET_ENV_VARS:
            self.add_secret(environ.get(name))

    def redact(self, text: str) -> str:
        """``text`` with every known secret, secret-looking token and PII replaced."""
        if not text:
            return text
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        for pattern, replacement in _SECRET_PATTERNS:
            text = pattern.sub(replacement, text)
        text = _EMAIL.sub("[email]", text)
        return _PHONE.sub(_phone, text)

    def redact_value(self, value: Any) -> Any:
        """Redact the strings inside plain data (dicts, lists, tuples)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set):
            return [self.redact_value(item) for item in value]
        return value


#: The process-wide redactor every handler uses.
REDACTOR = Redactor()


def register_secret(value: str | None) -> None:
    """Tell the log redaction about a secret va holds (e.g. an API key it read)."""
    REDACTOR.add_secret(value)


def redact(text: str) -> str:
    """Redact ``text`` with the process-wide :class:`Redactor`."""
    return REDACTOR.redact(text)
