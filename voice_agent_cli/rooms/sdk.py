"""The boundary with the livekit rtc SDK: what va uses of a room, and its errors translated.

:class:`RoomLike` is the part of ``rtc.Room`` the room layer relies on; the
real room and :class:`~voice_agent_cli.testing.fake_livekit.FakeLiveKitRoom`
both satisfy it, so everything above this module is tested without a server.
:func:`translate_connect_error` turns the SDK's connection errors (a
``ConnectError`` whose message is all there is) into va's
:class:`~voice_agent_cli.errors.RoomError` tree, with a one-line message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from voice_agent_cli.errors import RoomAuthError, RoomError, RoomUnavailable, UsageError

#: Attribute that tells clients such as the Agents Playground what the agent is doing.
AGENT_STATE_ATTRIBUTE = "lk.agent.state"
#: Text-stream topic and attributes of LiveKit Agents' transcriptions.
TRANSCRIPTION_TOPIC = "lk.transcription"
ATTRIBUTE_TRANSCRIPTION_FINAL = "lk.transcription_final"
ATTRIBUTE_TRANSCRIPTION_SEGMENT_ID = "lk.segment_id"
ATTRIBUTE_TRANSCRIPTION_TRACK_ID = "lk.transcribed_track_id"

#: rtc DisconnectReason names after which reconnecting is wrong: we left, or were
#: made to leave (another agent took our identity, an admin removed us, the room ended).
FINAL_DISCONNECT_REASONS = frozenset(
    {
        "CLIENT_INITIATED",
        "DUPLICATE_IDENTITY",
        "PARTICIPANT_REMOVED",
        "ROOM_DELETED",
        "ROOM_CLOSED",
        "USER_REJECTED",
    }
)


class RoomLike(Protocol):
    """What va uses of ``livekit.rtc.Room`` (the real one, or a fake in tests)."""

    @property
    def name(self) -> str: ...

    @property
    def local_participant(self) -> Any: ...

    @property
    def remote_participants(self) -> Mapping[str, Any]: ...

    def on(self, event: Any, callback: Callable[..., Any] | None = None) -> Callable[..., Any]: ...

    def off(self, event: Any, callback: Callable[..., Any]) -> None: ...

    def isconnected(self) -> bool: ...

    async def connect(self, url: str, token: str, options: Any = ...) -> None: ...

    async def disconnect(self) -> None: ...


def new_room() -> RoomLike:
    """A real ``rtc.Room`` (imports the SDK now)."""
    from livekit import rtc

    room: RoomLike = rtc.Room()
    return room


def room_options(*, connect_timeout_s: float) -> Any:
    """``rtc.RoomOptions``: subscribe to every track, and the SDK's own per-attempt timeout."""
    from livekit import rtc

    return rtc.RoomOptions(auto_subscribe=True, connect_timeout=connect_timeout_s)


def disconnect_reason_name(reason: Any) -> str:
    """The name of an rtc ``DisconnectReason`` value (``"SERVER_SHUTDOWN"``), or ``"UNKNOWN"``."""
    if isinstance(reason, str):
        return reason
    from livekit.rtc._proto.participant_pb2 import DisconnectReason

    try:
        names = {int(value): name for name, value in DisconnectReason.items()}
        return names.get(int(reason), "UNKNOWN_REASON")
    except (TypeError, ValueError):
        return "UNKNOWN_REASON"


def participant_kind_name(participant: Any) -> str:
    """``standard``, ``agent``, ``sip``, ``ingress``... for an rtc participant."""
    from livekit.rtc._proto.participant_pb2 import ParticipantKind

    try:
        names = {int(value): name for name, value in ParticipantKind.items()}
        name = names.get(int(getattr(participant, "kind", 0)), "PARTICIPANT_KIND_STANDARD")
    except (TypeError, ValueError):
        return "standard"
    return name.removeprefix("PARTICIPANT_KIND_").lower()


def is_microphone(publication: Any) -> bool:
    """True for an audio publication from a microphone (or of unknown source)."""
    from livekit import rtc

    if getattr(publication, "kind", None) != rtc.TrackKind.KIND_AUDIO:
        return False
    # Screen-share audio is a video's soundtrack, not someone speaking to the agent.
    return getattr(publication, "source", 0) != rtc.TrackSource.SOURCE_SCREENSHARE_AUDIO


def is_agent(participant: Any) -> bool:
    """True for a participant that is itself an agent (never answered: no agent loops)."""
    from livekit import rtc

    return getattr(participant, "kind", None) == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


# -- connection errors -------------------------------------------------------------------

_STATUS = re.compile(r"\b(\d{3})\b[^-]*-\s*(.*)$")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def translate_connect_error(exc: BaseException, url: str) -> RoomError | UsageError:
    """An SDK connection failure as a va error with a one-line, secret-free message.

    Permanent failures (bad URL, token rejected, room not allowed) are
    :class:`~voice_agent_cli.errors.UsageError` / :class:`RoomAuthError`; an
    unreachable server is :class:`RoomUnavailable`, which reconnection retries.
    """
    # The SDK's message may quote the request, and the token in it: take it out first.
    message = _JWT.sub(
        "[redacted-token]", " ".join(str(getattr(exc, "message", None) or exc).split())
    )
    lowered = message.lower()
    detail = message.rsplit("failure: ", 1)[-1]
    if "parse the url" in lowered or "relative url" in lowered or "url scheme" in lowered:
        return UsageError(f"not a LiveKit server URL: {url!r} (use ws://host:7880 or wss://host)")
    match = _STATUS.search(detail)
    if "client error" in lowered and match:
        status, reason = int(match.group(1)), match.group(2).strip() or "no reason given"
        if status == 401:
            return RoomAuthError(
                f"the LiveKit server rejected the token ({reason}): check LIVEKIT_API_KEY and "
                "LIVEKIT_API_SECRET, or that the token has not expired"
            )
        if status == 403:
            return RoomAuthError(f"the token does not allow joining this room ({reason})")
        if status == 404:
            return RoomAuthError(f"the LiveKit server has no such room ({reason})")
        return RoomError(f"the LiveKit server refused the connection: {status} {reason}")
    if "server error" in lowered and match:
        return RoomUnavailable(
            f"the LiveKit server at {url} failed: {match.group(1)} {match.group(2).strip()}"
        )
    if "lookup address" in lowered or "name or service not known" in lowered:
        return RoomUnavailable(f"cannot resolve the LiveKit server's host name in {url}")
    if "refused" in lowered:
        return RoomUnavailable(f"cannot reach the LiveKit server at {url}: connection refused")
    return RoomUnavailable(f"cannot connect to the LiveKit server at {url}: {detail}")


def is_permanent(error: BaseException) -> bool:
    """True when trying again cannot help (a bad URL, a rejected token)."""
    return not isinstance(error, RoomUnavailable)
