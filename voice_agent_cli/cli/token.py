"""``va token``: a LiveKit access token for a person to join the agent's room.

``va token --room demo --identity alice`` prints the bare JWT on stdout, so
``TOKEN=$(va token --room demo --identity alice)`` works; ``--json`` prints the
token with its grants and expiry. ``--verify TOKEN`` checks a token instead
(signature, issuer, expiry and, with ``--room``, the room) and prints its
claims. The key pair comes from ``LIVEKIT_API_KEY`` / ``LIVEKIT_API_SECRET``.
"""

from __future__ import annotations

import re

import typer

from voice_agent_cli.cli.common import JsonOption, ProfileOption, load, print_json
from voice_agent_cli.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def register(app: typer.Typer) -> None:
    """Add ``va token`` to ``app``."""
    app.command(
        help="Mint a LiveKit token for a person to join a room (bare JWT on stdout), "
        "or check one with --verify."
    )(token)


def token(
    room: str | None = typer.Option(None, "--room", "-r", help="The room the token admits to."),
    identity: str | None = typer.Option(
        None, "--identity", "-i", help="The participant's identity (unique in the room)."
    ),
    name: str | None = typer.Option(None, "--name", help="Display name (default: the identity)."),
    ttl: str | None = typer.Option(
        None, "--ttl", help="Lifetime: seconds, or 30m, 2h, 1d (default: the profile's, 1h)."
    ),
    verify: str | None = typer.Option(
        None, "--verify", help="Check this token instead of minting one.", show_default=False
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", help="API key. Env: LIVEKIT_API_KEY (the secret: LIVEKIT_API_SECRET)."
    ),
    json_output: bool = JsonOption,
    profile: str | None = ProfileOption,
) -> None:
    """Mint (or verify) a LiveKit access token."""
    from voice_agent_cli.rooms.credentials import resolve_credentials
    from voice_agent_cli.rooms.tokens import mint_token, verify_token

    settings = load(profile)
    livekit = settings.profile.livekit
    credentials = resolve_credentials(livekit, api_key=api_key)
    key, secret = credentials.require_keys()
    if verify is not None:
        info = verify_token(verify.strip(), key, secret, room=room)
        if json_output:
            print_json({"valid": True, **info.as_json()})
        else:
            expires = f"{info.expires_at:%Y-%m-%d %H:%M:%S} UTC"
            typer.echo(
                f"valid: {info.identity} in room {info.room!r}, expires {expires} "
                f"(in {max(0, round(info.seconds_left))} s)"
            )
        return
    if not room or not identity:
        raise UsageError("--room and --identity are required (or --verify TOKEN)")
    lifetime = parse_duration(ttl) if ttl else float(livekit.participant_token_ttl_s)
    jwt = mint_token(key, secret, room=room, identity=identity, name=name or "", ttl_s=lifetime)
    if not json_output:
        typer.echo(jwt)
        return
    info = verify_token(jwt, key, secret, room=room)
    print_json({"token": jwt, "url": credentials.url, **info.as_json()})


def parse_duration(text: str) -> float:
    """Seconds from ``3600``, ``90s``, ``30m``, ``2h`` or ``1d`` (60 s to 7 days)."""
    match = _DURATION.match(text)
    if match is None:
        raise UsageError(f"bad --ttl {text!r}: use seconds, or e.g. 30m, 2h, 1d")
    seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    if not 60 <= seconds <= 7 * 86400:
        raise UsageError(f"--ttl {text!r} is out of range: from 1 minute to 7 days")
    return seconds
