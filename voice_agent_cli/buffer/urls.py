"""Show a backend URL without its password (a Redis URL may carry one)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``; safe for logs, errors and output."""
    try:
        parts = urlsplit(url)
        password = parts.password
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        # Unparseable: show only the scheme rather than risk printing a secret.
        scheme = url.split(":", 1)[0] if ":" in url else "url"
        return f"{scheme}://***"
    if password is None:
        return url
    user = parts.username or ""
    netloc = f"{user}:***@{host}" + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
