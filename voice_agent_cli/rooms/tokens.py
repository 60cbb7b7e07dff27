"""LiveKit access tokens: minted with least privilege, checked with livekit-api's verifier.

Two kinds are minted:

- the agent's own (:func:`agent_grants`): join this one room, publish its
  microphone track and data, subscribe, update its own attributes (the
  ``lk.agent.state`` that clients show), participant kind ``agent``, and a
  short lifetime (a fresh one is minted for every connection);
- a person's (:func:`participant_grants`, ``va token``): join this one room,
  publish, subscribe and send data, for an hour by default.

:func:`verify_token` checks a token's signature, expiry and room through
``livekit.api.TokenVerifier``; :func:`inspect_token` reads one without the
secret (``va join --token`` on a machine that has none). Every failure is a
:class:`~voice_agent_cli.errors.RoomAuthError` with a one-line message that
never contains the token.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from voice_agent_cli.errors import ConfigError, RoomAuthError

#: Clock skew tolerated when checking expiry (the server tolerates more).
LEEWAY_S = 5
#: Below this, PyJWT warns about an HMAC key (RFC 7518); `livekit-server --dev` uses "secret".
MIN_SECRET_BYTES = 32

_logger = logging.getLogger("va.rooms")


@contextmanager
def _short_secret_allowed(secret: str) -> Iterator[None]:
    """Sign or check with a short dev secret without PyJWT's warning on every token.

    A warning per token would bury ``va join``'s output; va logs it once instead.
    """
    with warnings.catch_warnings():
        if len(secret.encode()) < MIN_SECRET_BYTES:
            warnings.filterwarnings("ignore", message=r"The HMAC key is \d+ bytes long")
        yield


@dataclass(frozen=True)
class TokenInfo:
    """What a token allows, read from its claims (never the token itself)."""

    identity: str
    room: str
    expires_at: dt.datetime
    name: str = ""
    kind: str = ""
    grants: dict[str, Any] = field(default_factory=dict)
    verified: bool = False

    @property
    def seconds_left(self) -> float:
        """Seconds until the token expires (negative once it has)."""
        return (self.expires_at - dt.datetime.now(dt.UTC)).total_seconds()

    def as_json(self) -> dict[str, Any]:
        """The claims as the JSON ``va token --json`` prints next to the token."""
        return {
            "identity": self.identity,
            "name": self.name,
            "room": self.room,
            "kind": self.kind or "standard",
            "grants": self.grants,
            "expires_at": self.expires_at.isoformat(),
            "ttl_s": max(0, round(self.seconds_left)),
        }


def agent_grants(room: str) -> Any:
    """The least the agent needs: join ``room``, publish audio and data, subscribe."""
    from livekit import api

    return api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_publish_sources=["microphone"],
        can_publish_data=True,
        can_subscribe=True,
        # Lets the agent set lk.agent.state, which browser clients show.
        can_update_own_metadata=True,
    )


def participant_grants(room: str) -> Any:
    """A person in a browser: join ``room``, publish, subscribe, send data (chat)."""
    from livekit import api

    return api.VideoGrants(
        room_join=True, room=room, can_publish=True, can_subscribe=True, can_publish_data=True
    )


def mint_token(
    api_key: str,
    api_secret: str,
    *,
    room: str,
    identity: str,
    name: str = "",
    ttl_s: float,
    agent: bool = False,
    attributes: dict[str, str] | None = None,
) -> str:
    """A signed JWT for ``identity`` in ``room`` (an agent's grants with ``agent=True``)."""
    from livekit import api

    if not room.strip():
        raise ConfigError("the room name must not be empty")
    if not identity.strip():
        raise ConfigError("the identity must not be empty")
    try:
        token = (
            api.AccessToken(api_key, api_secret)
            .with_identity(identity)
            .with_name(name or identity)
            .with_ttl(dt.timedelta(seconds=ttl_s))
            .with_grants(agent_grants(room) if agent else participant_grants(room))
        )
        if agent:
            token = token.with_kind("agent")
        if attributes:
            token = token.with_attributes(attributes)
        with _short_secret_allowed(api_secret):
            return str(token.to_jwt())
    except ValueError as exc:  # the SDK's checks (empty key, missing identity)
        raise ConfigError(f"cannot mint a LiveKit token: {exc}") from None


def verify_token(
    token: str, api_key: str, api_secret: str, *, room: str | None = None
) -> TokenInfo:
    """Check signature, issuer (API key), expiry and, if given, the room; raise if any fails."""
    import jwt
    from livekit import api

    verifier = api.TokenVerifier(api_key, api_secret, leeway=dt.timedelta(seconds=LEEWAY_S))
    try:
        with _short_secret_allowed(api_secret):
            claims = verifier.verify(token)
    except jwt.ExpiredSignatureError:
        raise RoomAuthError(f"the token expired {_expiry_text(token)}") from None
    except jwt.InvalidIssuerError:
        raise RoomAuthError("the token was issued for another API key") from None
    except jwt.InvalidSignatureError:
        raise RoomAuthError("the token's signature does not match the API secret") from None
    except jwt.ImmatureSignatureError:
        raise RoomAuthError("the token is not valid yet (check the clock)") from None
    except jwt.MissingRequiredClaimError as exc:
        raise RoomAuthError(f"the token has no {exc.claim!r} claim") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise RoomAuthError("not a LiveKit access token (it is not a valid JWT)") from None
    info = _info(token, claims, verified=True)
    _check_room(info, room)
    return info


def inspect_token(token: str, *, room: str | None = None) -> TokenInfo:
    """Read a token without its secret: its room, identity and expiry (checked here too)."""
    import jwt
    from livekit import api

    try:
        claims = api.TokenVerifier().verify(token, verify_signature=False)
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise RoomAuthError("not a LiveKit access token (it is not a valid JWT)") from None
    info = _info(token, claims, verified=False)
    if info.seconds_left < -LEEWAY_S:
        raise RoomAuthError(f"the token expired {_expiry_text(token)}")
    _check_room(info, room)
    return info


def _check_room(info: TokenInfo, room: str | None) -> None:
    if not info.grants.get("room_join"):
        raise RoomAuthError("the token does not allow joining a room (no roomJoin grant)")
    if not info.room:
        raise RoomAuthError("the token does not name a room")
    if room is not None and info.room != room:
        raise RoomAuthError(f"the token is for room {info.room!r}, not {room!r}")


def _payload(token: str) -> dict[str, Any]:
    import jwt

    try:
        payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}
    return payload


def _expires_at(token: str) -> dt.datetime:
    exp = _payload(token).get("exp")
    if not isinstance(exp, int | float):
        return dt.datetime.fromtimestamp(0, dt.UTC)
    return dt.datetime.fromtimestamp(exp, dt.UTC)


def _expiry_text(token: str) -> str:
    at = _expires_at(token)
    ago = (dt.datetime.now(dt.UTC) - at).total_seconds()
    return f"at {at:%Y-%m-%d %H:%M:%S} UTC ({_duration(ago)} ago)"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _info(token: str, claims: Any, *, verified: bool) -> TokenInfo:
    video = claims.video
    grants: dict[str, Any] = {}
    if video is not None:
        grants = {
            key: value
            for key, value in vars(video).items()
            if value not in (None, "") and key != "room"
        }
    return TokenInfo(
        identity=str(claims.identity or ""),
        room=str(getattr(video, "room", "") or ""),
        expires_at=_expires_at(token),
        name=str(claims.name or ""),
        kind=str(claims.kind or ""),
        grants=grants,
        verified=verified,
    )
