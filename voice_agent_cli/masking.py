"""Masking secrets in configuration before it is shown: one helper for every place.

``va chat --show-config``, ``va tools health``, cache locations and error
messages show configuration that may hold credentials: a password in a URL
(``redis://:pw@host``, ``https://user:pw@host``), a token in a query string
(``?token=...``), a secret argument (``--api-key sk-...``, ``--password=...``),
literal ``env`` and ``headers`` values. Everything here keeps what a person
needs to recognise their setting (scheme, host, path, flag names, ``${VAR}``
references, which are names, not values) and replaces the secret itself.

Only the standard library is imported: :mod:`voice_agent_cli.observe.log` uses it too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: What replaces a password inside a URL (short, and still a valid URL).
URL_MASK = "***"
#: What replaces any other secret value.
HIDDEN = "<hidden>"

#: Names (of flags, query parameters, variables, headers) that announce a secret.
SECRET_NAME = re.compile(
    r"token|key|secret|password|passwd|pwd|auth|credential|signature|sig\b|session|cookie",
    re.IGNORECASE,
)
#: A whole value that only references the environment: shown as is.
REFERENCE_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$")
#: Values that look like secrets by their shape alone (API keys, tokens, JWTs).
SECRET_SHAPES: tuple[re.Pattern[str], ...] = (
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),  # Google API keys
    re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"),  # JWTs
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}"),  # OpenAI-style keys
    re.compile(r"\b(?:ghp|gho|ghs|ghu|github_pat|glpat|xox[abprs])[-_][A-Za-z0-9_\-]{16,}"),
)
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s\"'<>]+")


def looks_secret(value: str) -> bool:
    """Whether ``value`` has the shape of a key or token."""
    return any(shape.search(value) for shape in SECRET_SHAPES)


def mask_url(url: str) -> str:
    """``url`` with its password and any secret query parameter replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        # Unparseable: show only the scheme rather than risk printing a secret.
        scheme = url.split(":", 1)[0] if ":" in url else "url"
        return f"{scheme}://{URL_MASK}"
    netloc = parts.netloc
    if password is not None:
        user = parts.username or ""
        netloc = f"{user}:{URL_MASK}@{host}" + (f":{port}" if port is not None else "")
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [
            (name, URL_MASK if _is_secret_pair(name, value) else value) for name, value in pairs
        ]
        if masked != pairs:
            query = urlencode(masked, safe="*${}:")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _is_secret_pair(name: str, value: str) -> bool:
    return (
        bool(value)
        and not REFERENCE_ONLY.match(value)
        and (bool(SECRET_NAME.search(name)) or looks_secret(value))
    )


def mask_text(text: str) -> str:
    """Free text (an argument, a setting) with URLs masked and key-shaped values hidden."""
    text = _URL_IN_TEXT.sub(lambda match: mask_url(match.group(0)), text)
    for shape in SECRET_SHAPES:
        text = shape.sub(HIDDEN, text)
    return text


def mask_args(args: Sequence[str]) -> list[str]:
    """Command-line arguments with their secrets hidden.

    ``--api-key VALUE`` and ``--token=VALUE`` hide the value (the flag name says
    it is a secret); URLs lose their passwords; key-shaped values are hidden
    wherever they stand. ``${VAR}`` references are shown: they are names.
    """
    shown: list[str] = []
    hide_next = False
    for arg in args:
        reference = "${" in arg
        if hide_next and not reference:
            shown.append(HIDDEN)
        elif arg.startswith("-") and "=" in arg:
            flag, value = arg.split("=", 1)
            secret_flag = bool(SECRET_NAME.search(flag)) and not REFERENCE_ONLY.match(value)
            shown.append(f"{flag}={HIDDEN}" if secret_flag else f"{flag}={mask_text(value)}")
        else:
            shown.append(mask_text(arg))
        hide_next = arg.startswith("-") and "=" not in arg and bool(SECRET_NAME.search(arg))
    return shown


def mask_mapping(values: Mapping[str, str]) -> dict[str, str]:
    """``env`` or ``headers`` values: only pure ``${VAR}`` references are shown."""
    return {key: value if REFERENCE_ONLY.match(value) else HIDDEN for key, value in values.items()}


def mask_value(value: Any) -> Any:
    """Plain configuration data with :func:`mask_text` applied to every string in it."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(item) for item in value]
    return value
