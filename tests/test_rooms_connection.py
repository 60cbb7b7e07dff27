"""Joining a room within a timeout, errors in one line, and reconnection with backoff.

Driven through the fake room of voice_agent_cli.testing.fake_livekit (the same
events as rtc.Room) with an injected sleep, so no test waits for a backoff.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from livekit import rtc

from tests.rooms_helpers import Clock, until
from voice_agent_cli.errors import RoomAuthError, RoomError, RoomUnavailable, UsageError
from voice_agent_cli.rooms.backoff import ReconnectPolicy
from voice_agent_cli.rooms.connection import RoomConnection
from voice_agent_cli.rooms.events import ConnectionChanged
from voice_agent_cli.rooms.sdk import RoomLike, translate_connect_error
from voice_agent_cli.rooms.tokens import mint_token
from voice_agent_cli.testing.fake_livekit import FakeLiveKitServer, connect_error

REFUSED = "transport connection error: IO error: Connection refused (os error 111)"


class Tokens:
    def __init__(self) -> None:
        self.minted = 0

    def __call__(self) -> str:
        self.minted += 1
        return mint_token("key", "s" * 32, room="demo", identity="va-agent", ttl_s=60, agent=True)


def make(
    server: FakeLiveKitServer, clock: Clock | None = None, **options: object
) -> tuple[RoomConnection, list[ConnectionChanged], Tokens]:
    tokens = Tokens()
    connection = RoomConnection(
        "ws://livekit.test:7880",
        "demo",
        tokens,
        room_factory=server.room_factory,
        options_factory=lambda: None,
        sleep=(clock or Clock()).sleep,
        rand=lambda: 0.5,
        **options,  # type: ignore[arg-type]
    )
    states: list[ConnectionChanged] = []
    connection.add_listener(states.append)
    return connection, states, tokens


# -- the backoff policy ----------------------------------------------------------------------


def test_backoff_doubles_is_jittered_and_capped() -> None:
    policy = ReconnectPolicy(base_s=0.5, max_s=4.0, jitter=0.5, max_attempts=6)
    assert list(policy.delays(lambda: 1.0)) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert list(policy.delays(lambda: 0.0)) == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    jittered = [policy.delay(3) for _ in range(200)]
    assert all(1.0 <= d <= 2.0 for d in jittered) and len(set(jittered)) > 100
    assert list(ReconnectPolicy(max_attempts=0).delays()) == []


# -- connecting ------------------------------------------------------------------------------


async def test_connect_joins_and_reports_its_states() -> None:
    server = FakeLiveKitServer()
    connection, states, tokens = make(server)
    joined: list[RoomLike] = []

    async def on_connected(room: RoomLike) -> None:
        joined.append(room)

    connection.on_connected(on_connected)
    room = await connection.connect()
    assert room is server.current and joined == [room]
    assert [s.state for s in states] == ["connecting", "connected"]
    assert server.current.url == "ws://livekit.test:7880" and tokens.minted == 1
    assert server.current.local_participant.identity == "va-agent"
    assert connection.connect_ms is not None
    await connection.aclose()
    assert [s.state for s in states][-1] == "disconnected"
    assert not server.current.isconnected()


@pytest.mark.parametrize(
    ("message", "error", "words"),
    [
        (REFUSED, RoomUnavailable, "connection refused"),
        (
            "transport connection error: IO error: failed to lookup address information",
            RoomUnavailable,
            "cannot resolve",
        ),
        (
            "client error: 401 Unauthorized - invalid token: token is expired",
            RoomAuthError,
            "rejected the token (invalid token: token is expired)",
        ),
        ("client error: 403 Forbidden - permissions denied", RoomAuthError, "does not allow"),
        ("client error: 404 Not Found - room not found", RoomAuthError, "no such room"),
        ("failed to parse the url: relative URL without a base", UsageError, "not a LiveKit"),
        ("server error: 503 Service Unavailable - draining", RoomUnavailable, "503 draining"),
    ],
)
async def test_a_failed_connect_is_one_clear_error(
    message: str, error: type[Exception], words: str
) -> None:
    server = FakeLiveKitServer([connect_error(message)])
    connection, states, _ = make(server)
    with pytest.raises(error) as raised:
        await connection.connect()
    assert words in str(raised.value) and "\n" not in str(raised.value)
    assert [s.state for s in states] == ["connecting", "failed"]
    await connection.aclose()


def test_error_messages_never_carry_a_token() -> None:
    token = mint_token("key", "s" * 32, room="demo", identity="x", ttl_s=60)
    error = translate_connect_error(
        rtc.ConnectError(
            f"engine: signal failure: odd failure for ws://h/rtc?access_token={token}"
        ),
        "ws://h",
    )
    assert token not in str(error) and "[redacted" in str(error)


async def test_a_server_that_never_answers_times_out() -> None:
    server = FakeLiveKitServer(["hang"])
    connection, _, _ = make(server, connect_timeout_s=0.2)
    began = time.perf_counter()
    with pytest.raises(RoomUnavailable, match=r"no answer .* within 0.2 s"):
        await connection.connect()
    assert time.perf_counter() - began < 1.0
    await connection.aclose()


# -- staying connected ---------------------------------------------------------------------------


async def test_a_dropped_connection_is_reestablished_with_backoff() -> None:
    server = FakeLiveKitServer([None, connect_error(REFUSED), connect_error(REFUSED), None])
    clock = Clock()
    policy = ReconnectPolicy(base_s=0.5, max_s=1.5, jitter=0.5, max_attempts=5)
    connection, states, tokens = make(server, clock, policy=policy)
    lost: list[str] = []

    async def on_lost() -> None:
        lost.append("lost")

    connection.on_lost(on_lost)
    await connection.connect()
    first = server.current
    staying = asyncio.create_task(connection.run())
    first.drop()
    await until(lambda: len(server.rooms) == 4 and connection.state == "connected")

    # rand() = 0.5: three quarters of each ceiling (0.5, 1.0, then the 1.5 s cap).
    assert clock.delays == [0.375, 0.75, 1.125]
    assert lost == ["lost"] and connection.room is server.current and connection.reconnects == 1
    assert tokens.minted == 4  # a fresh token for every attempt
    reconnecting = [s for s in states if s.state == "reconnecting"]
    assert [(s.attempt, s.delay_s) for s in reconnecting] == [(1, 0.375), (2, 0.75), (3, 1.125)]
    assert "connection refused" in reconnecting[-1].reason
    # The old room's events no longer count.
    first.drop()
    await asyncio.sleep(0.01)
    assert connection.state == "connected"
    await connection.aclose()
    await staying  # aclose ends run() cleanly


async def test_a_permanent_failure_while_reconnecting_stops_at_once() -> None:
    server = FakeLiveKitServer([None, connect_error("client error: 401 Unauthorized - bad key")])
    clock = Clock()
    connection, states, _ = make(server, clock, policy=ReconnectPolicy(max_attempts=10))
    await connection.connect()
    staying = asyncio.create_task(connection.run())
    server.current.drop()
    with pytest.raises(RoomAuthError, match="rejected the token"):
        await asyncio.wait_for(staying, 5)
    assert len(clock.delays) == 1 and states[-1].state == "failed"
    await connection.aclose()


async def test_giving_up_after_the_last_attempt() -> None:
    server = FakeLiveKitServer([None] + [connect_error(REFUSED)] * 3)
    clock = Clock()
    connection, _, _ = make(server, clock, policy=ReconnectPolicy(max_attempts=3))
    await connection.connect()
    staying = asyncio.create_task(connection.run())
    server.current.drop()
    with pytest.raises(RoomUnavailable, match="3 reconnection attempts failed"):
        await asyncio.wait_for(staying, 5)
    assert len(clock.delays) == 3
    await connection.aclose()


async def test_a_short_outage_is_resumed_by_the_sdk() -> None:
    server = FakeLiveKitServer()
    connection, states, _ = make(server, policy=ReconnectPolicy())
    await connection.connect()
    server.current.interrupt()
    assert [s.state for s in states][-2:] == ["reconnecting", "connected"]
    assert len(server.rooms) == 1
    await connection.aclose()


async def test_removed_or_replaced_agents_do_not_come_back() -> None:
    server = FakeLiveKitServer()
    connection, _, _ = make(server, policy=ReconnectPolicy())
    await connection.connect()
    staying = asyncio.create_task(connection.run())
    server.current.drop(rtc.DisconnectReason.DUPLICATE_IDENTITY)
    with pytest.raises(RoomError, match="another participant joined with the agent's identity"):
        await asyncio.wait_for(staying, 5)
    assert len(server.rooms) == 1
    await connection.aclose()


async def test_a_closed_room_ends_the_session_normally() -> None:
    server = FakeLiveKitServer()
    connection, states, _ = make(server, policy=ReconnectPolicy())
    await connection.connect()
    staying = asyncio.create_task(connection.run())
    server.current.drop(rtc.DisconnectReason.ROOM_DELETED)
    await asyncio.wait_for(staying, 5)
    assert states[-1].state == "disconnected" and "room was closed" in states[-1].reason
    await connection.aclose()
