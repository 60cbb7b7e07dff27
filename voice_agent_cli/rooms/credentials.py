"""Where va finds its LiveKit server and keys: flags, the environment, the profile.

- the URL: ``--url`` > ``$LIVEKIT_URL`` > ``[livekit] url`` (``VA_LIVEKIT__URL``);
- the API key: ``--api-key`` > the variable ``[livekit] api_key_env`` names
  (``LIVEKIT_API_KEY``);
- the API secret: only the variable ``[livekit] api_secret_env`` names
  (``LIVEKIT_API_SECRET``): a flag would show it in ``ps`` and shell history.

The secret is held in a :class:`~voice_agent_cli.contracts.secrets.Secret`, which never
prints itself, and is registered with the log redaction.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.errors import ConfigError, UsageError
from voice_agent_cli.observe import redaction
from voice_agent_cli.rooms.settings import LiveKitSettings

_logger = logging.getLogger("va.rooms")

_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


@dataclass(frozen=True)
class LiveKitCredentials:
    """A server URL and the key pair that signs tokens for it (each may be missing)."""

    url: str | None
    api_key: str | None
    api_secret: Secret | None
    api_key_env: str = "LIVEKIT_API_KEY"
    api_secret_env: str = "LIVEKIT_API_SECRET"

    @property
    def can_sign(self) -> bool:
        """True when both the API key and the secret are known."""
        return bool(self.api_key and self.api_secret)

    def require_url(self) -> str:
        """The URL, or a usage error that says where to set it."""
        if not self.url:
            raise ConfigError(
                "no LiveKit server URL: set LIVEKIT_URL (e.g. ws://localhost:7880) or pass --url"
            )
        return self.url

    def require_keys(self) -> tuple[str, str]:
        """(API key, API secret), or a usage error naming the missing variables."""
        missing = [
            name
            for name, value in (
                (self.api_key_env, self.api_key),
                (self.api_secret_env, self.api_secret),
            )
            if not value
        ]
        if missing or self.api_key is None or self.api_secret is None:
            raise ConfigError(
                f"{' and '.join(missing)} must be set to sign LiveKit tokens "
                "(`livekit-server --dev` uses devkey / secret)"
            )
        return self.api_key, self.api_secret.value


def normalize_url(url: str) -> str:
    """A ws:// or wss:// URL (http(s) become ws(s)); a usage error for anything else."""
    text = url.strip()
    parts = urlsplit(text)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise UsageError(
            f"not a LiveKit server URL: {text!r} (use ws://host:7880, wss://host or https://host)"
        )
    try:
        _ = parts.port  # a port that is not a number
    except ValueError:
        raise UsageError(f"not a LiveKit server URL: {text!r} (bad port)") from None
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def resolve_credentials(
    settings: LiveKitSettings,
    *,
    url: str | None = None,
    api_key: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> LiveKitCredentials:
    """The effective URL, key and secret (flags first, then environment, then profile)."""
    environ = os.environ if environ is None else environ
    chosen_url = url or environ.get("LIVEKIT_URL", "").strip() or settings.url
    key = (api_key or environ.get(settings.api_key_env, "")).strip() or None
    raw_secret = environ.get(settings.api_secret_env, "").strip()
    secret = Secret(raw_secret, settings.api_secret_env) if raw_secret else None
    if secret is not None:
        redaction.register_secret(secret.value)
        if len(raw_secret.encode()) < 32:
            _logger.info(
                "$%s is shorter than 32 bytes: fine for `livekit-server --dev`, weak anywhere else",
                settings.api_secret_env,
            )
    return LiveKitCredentials(
        url=normalize_url(chosen_url) if chosen_url else None,
        api_key=key,
        api_secret=secret,
        api_key_env=settings.api_key_env,
        api_secret_env=settings.api_secret_env,
    )
