"""Which room ``va join`` joins, as whom, and where each connection's token comes from.

Two ways in:

- ``--room NAME``: va mints its own agent token (least privilege, short
  lifetime) from ``LIVEKIT_API_KEY`` / ``LIVEKIT_API_SECRET``, a fresh one for
  every connection attempt, so a reconnection an hour later still works;
- ``--token TOKEN``: a token someone else minted. It is checked before any
  connection: with the secret at hand, fully (signature, expiry, room);
  without it, its expiry and room only. The room and identity are the token's.

Everything here fails fast and offline, before the SDK is asked to connect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from voice_agent_cli.errors import UsageError
from voice_agent_cli.observe import redaction
from voice_agent_cli.rooms.credentials import LiveKitCredentials, resolve_credentials
from voice_agent_cli.rooms.sdk import AGENT_STATE_ATTRIBUTE
from voice_agent_cli.rooms.settings import LiveKitSettings
from voice_agent_cli.rooms.tokens import TokenInfo, inspect_token, mint_token, verify_token


@dataclass(frozen=True)
class RoomTarget:
    """A server, a room, the agent's identity, and a token for each connection attempt."""

    url: str
    room: str
    identity: str
    name: str
    tokens: Callable[[], str]
    minted: bool
    #: The claims of a given token (None when va mints its own).
    given: TokenInfo | None = None


def resolve_target(
    settings: LiveKitSettings,
    *,
    room: str | None = None,
    token: str | None = None,
    url: str | None = None,
    api_key: str | None = None,
    identity: str | None = None,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> RoomTarget:
    """Check the flags, environment and profile; raise a one-line error if anything is off."""
    credentials = resolve_credentials(settings, url=url, api_key=api_key, environ=environ)
    server = credentials.require_url()
    if token is not None:
        if identity or name:
            raise UsageError("--identity and --name cannot change a given --token's identity")
        return _given_token(server, token.strip(), room, credentials)
    if not room:
        raise UsageError("--room NAME is required (or --token TOKEN)")
    key, secret = credentials.require_keys()
    agent_identity = identity or settings.identity
    agent_name = name or settings.name

    def mint() -> str:
        return mint_token(
            key,
            secret,
            room=room,
            identity=agent_identity,
            name=agent_name,
            ttl_s=settings.token_ttl_s,
            agent=True,
            attributes={AGENT_STATE_ATTRIBUTE: "initializing"},
        )

    mint()  # a bad identity or key fails here, not at the first connection
    return RoomTarget(server, room, agent_identity, agent_name, mint, minted=True)


def _given_token(
    server: str, token: str, room: str | None, credentials: LiveKitCredentials
) -> RoomTarget:
    if credentials.can_sign:
        key, secret = credentials.require_keys()
        info = verify_token(token, key, secret, room=room)
    else:
        info = inspect_token(token, room=room)
    redaction.register_secret(token)

    def given() -> str:
        # Checked again before each reconnection: an expired token is a clear error, not a 401.
        inspect_token(token)
        return token

    return RoomTarget(
        server, info.room, info.identity, info.name or info.identity, given, False, given=info
    )
