"""``va join``: the agent as a participant of a LiveKit room.

``va join --room demo`` mints its own agent token from LIVEKIT_API_KEY /
LIVEKIT_API_SECRET and joins LIVEKIT_URL (``--token`` joins with a given one).
The order is chosen so that failures are fast: flags, URL and token are
checked offline; then the room is joined (bounded by ``--connect-timeout``);
only then are the speech models and the LLM loaded, while already in the room.
Then every participant's microphone gets a voice pipeline, answers are spoken
on the agent's track, transcripts go to the data channel, and dropped
connections are re-established with backoff, until Ctrl-C or SIGTERM, which
leave cleanly (exit code 0). Each participant's turns are kept in a session of
their own, found again by the next agent in the room, which starts from the
room's earlier conversation (docs/sessions.md).

The view: a live Rich view on a terminal; plain lines otherwise; ``--json``
prints one JSON object per event or turn. See docs/livekit.md.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import typer

from voice_agent_cli.cli.agent_flags import AgentFlags, agent_command
from voice_agent_cli.cli.common import (
    JsonOption,
    LiveKitApiKeyOption,
    LiveKitUrlOption,
    live_console,
    stderr_console,
)

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.llm.base import LLM
    from voice_agent_cli.observe.metrics import Metrics
    from voice_agent_cli.rooms.events import RoomEvent
    from voice_agent_cli.rooms.policy import AnswerPolicy
    from voice_agent_cli.rooms.sdk import RoomLike
    from voice_agent_cli.rooms.session import RoomAgent
    from voice_agent_cli.rooms.sessions import RoomSessions
    from voice_agent_cli.rooms.target import RoomTarget
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech

#: What answers in a room: the agent, and the speech engines it hears and speaks with.
Engines = tuple["Agent", "SpeechToText", "TextToSpeech"]


class RoomView(Protocol):
    """What shows one room: ``va join``'s view, or one job's lines in ``va serve``."""

    def show(self, event: RoomEvent) -> None:
        """One room event."""

    def note(self, message: str, level: str = "info") -> None:
        """A line outside the transcript."""

    def joined(self, *, connect_ms: float | None, people: list[str]) -> None:
        """The agent is in the room."""


def register(app: typer.Typer) -> None:
    """Add ``va join`` to ``app``."""
    app.command(help="Join a LiveKit room as a voice agent participant (va join --room demo).")(
        join
    )


@agent_command
def join(
    room: str | None = typer.Option(None, "--room", "-r", help="The room to join."),
    token: str | None = typer.Option(
        None,
        "--token",
        help="Join with this token (room and identity are the token's) instead of minting one.",
        show_default=False,
    ),
    url: str | None = LiveKitUrlOption,
    api_key: str | None = LiveKitApiKeyOption,
    identity: str | None = typer.Option(
        None, "--identity", help="The agent's identity in the room (default va-agent)."
    ),
    name: str | None = typer.Option(None, "--name", help="The agent's display name (default va)."),
    answer: str | None = typer.Option(
        None,
        "--answer",
        help="Whom to answer: everyone, participant (see --participant) or addressed "
        '("hey va, ...").',
    ),
    participant: str | None = typer.Option(
        None, "--participant", help="With --answer participant: the identity to answer."
    ),
    barge_in: str | None = typer.Option(
        None,
        "--barge-in",
        help="Who cuts the agent's reply by speaking: anyone, addressee or off.",
    ),
    connect_timeout: float | None = typer.Option(
        None, "--connect-timeout", min=0.1, help="Seconds one connection attempt may take (5)."
    ),
    reconnect: bool | None = typer.Option(
        None, "--reconnect/--no-reconnect", help="Rejoin when the connection drops (on)."
    ),
    json_output: bool = JsonOption,
    *,
    flags: AgentFlags,
) -> None:
    """Join a LiveKit room and answer its participants."""
    import asyncio

    from voice_agent_cli.rooms.target import resolve_target

    overrides: dict[str, Any] = {
        "livekit.answer": answer,
        "livekit.participant": participant,
        "livekit.barge_in": barge_in,
        "livekit.connect_timeout_s": connect_timeout,
        "livekit.reconnect": reconnect,
    }
    settings = flags.settings(overrides)
    target = resolve_target(
        settings.profile.livekit,
        room=room,
        token=token,
        url=url,
        api_key=api_key,
        identity=identity,
        name=name,
    )
    from voice_agent_cli.observe.command import observe_command

    with (
        observe_command(settings, "join", metrics_json=flags.metrics_json) as observed,
        quiet_sdk_logs(settings),
    ):
        run = JoinRun(settings, target, json_output=json_output, metrics=observed.metrics)
        try:
            asyncio.run(run.main())
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None  # a second Ctrl-C: exit code 130


@contextmanager
def quiet_sdk_logs(settings: Settings) -> Iterator[None]:
    """The SDK logs every failed attempt as a warning: va says it once, in its own words.

    With ``--log-level debug`` the SDK's own lines are kept.
    """
    sdk = logging.getLogger("livekit")
    saved = sdk.level
    if settings.profile.observability.log_level != "DEBUG":
        sdk.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        sdk.setLevel(saved)


class JoinRun:
    """One ``va join`` run: join, load, listen and answer until told to leave.

    ``room_factory`` and ``llm`` replace the real room and the profile's LLM
    (tests run the whole command against a fake room and a scripted LLM).
    """

    def __init__(
        self,
        settings: Settings,
        target: RoomTarget,
        *,
        json_output: bool,
        room_factory: Callable[[], RoomLike] | None = None,
        llm: LLM | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        import asyncio

        self.settings = settings
        #: The command's registry: the agent reports into it, the view reads it.
        self.metrics = metrics
        self.target = target
        self.json_output = json_output
        self.room_factory = room_factory
        self.llm = llm
        self.stop = asyncio.Event()
        #: The room's sessions (None while sessions are off).
        self.sessions: RoomSessions | None = None

    async def main(self) -> None:
        from voice_agent_cli.observe import metrics
        from voice_agent_cli.ui.join_view import JoinView

        remove_handlers = self._handle_signals()
        room_agent = self.room_agent()
        terminal = live_console() if not self.json_output else None
        view = JoinView(
            sys.stdout,
            stderr_console(),
            room=self.target.room,
            agent=self.target.identity,
            metrics=self.metrics or metrics.current(),
            participants=room_agent.participants,
            json_output=self.json_output,
            live_console=terminal,
            policy=self._policy().describe(),
        )
        try:
            with view:
                await self.attend(room_agent, view)
        finally:
            remove_handlers()
        if not self.json_output:
            stderr_console().print(f"[dim]left room {self.target.room!r}[/]")

    async def attend(self, room_agent: RoomAgent, view: RoomView) -> None:
        """Join, load, answer until :attr:`stop` is set, then leave (a ``va serve`` job too)."""
        room_agent.add_observer(view.show)
        async with AsyncExitStack() as stack:
            # Closed last: the turns the pipelines end with on leaving are kept too.
            self._keep_sessions(stack, room_agent, view)
            stack.push_async_callback(room_agent.aclose)
            if not await self._until_stopped(room_agent.join()):
                return
            view.joined(
                connect_ms=room_agent.connection.connect_ms,
                people=[p.identity for p in room_agent.participants],
            )
            if not await self._enable_voice(stack, room_agent, view):
                return
            await room_agent.run(self.stop)
            view.note(f"leaving room {self.target.room!r}")

    def _keep_sessions(self, stack: AsyncExitStack, room_agent: RoomAgent, view: RoomView) -> None:
        """Each participant's turns go to a session of their own (unless sessions are off)."""
        from voice_agent_cli.rooms.sessions import RoomSessions
        from voice_agent_cli.sessions.recorder import open_session_book

        book = open_session_book(self.settings)
        if book is None:
            return
        stack.push_async_callback(book.aclose)
        self.sessions = sessions = RoomSessions(
            book,
            self.target.room,
            on_new=lambda identity, recorder: view.note(f"session {recorder.id} for {identity}"),
        )
        room_agent.add_observer(sessions.observe)

    def room_agent(self) -> RoomAgent:
        from voice_agent_cli.compose.rooms import build_room_agent

        return build_room_agent(
            self.settings, self.target, room_factory=self.room_factory, metrics=self.metrics
        )

    def _policy(self) -> AnswerPolicy:
        from voice_agent_cli.compose.rooms import answer_policy

        return answer_policy(self.settings, self.target)

    async def _enable_voice(
        self, stack: AsyncExitStack, room_agent: RoomAgent, view: RoomView
    ) -> bool:
        """Load the models (while in the room) and start listening; False if stopped meanwhile."""
        from voice_agent_cli.speech.build import voice_options

        profile = self.settings.profile
        livekit = profile.livekit
        engines = await self._open_engines(stack, view)
        if engines is None:
            return False
        agent, stt, tts = engines
        conversation = agent.new_conversation()
        if self.sessions is not None:
            earlier = await self.sessions.load_history(conversation)
            if earlier:
                view.note(f"continuing the room's conversation ({earlier} earlier messages)")
        # Participants' clients cancel their own echo: the room needs none of ours.
        options = voice_options(profile, echo="off")
        if livekit.barge_in == "off":
            options = replace(options, barge_in=False)
        voices = room_agent.enable_voice(
            agent,
            stt=stt,
            tts=tts,
            options=options,
            policy=self._policy(),
            barge_in=livekit.barge_in,
            max_pipelines=livekit.max_pipelines,
            conversation=conversation,
        )
        # Pipelines stop before the agent and the engines they use are closed.
        stack.push_async_callback(voices.aclose)
        view.note(f"listening ({self._policy().describe()}); Ctrl-C to leave")
        return True

    async def _open_engines(self, stack: AsyncExitStack, view: RoomView) -> Engines | None:
        """The agent and speech engines, loaded now and closed with ``stack``; None if stopped."""
        from voice_agent_cli.compose.agent import open_agent
        from voice_agent_cli.speech.build import build_engines, load_models, turn_detector

        view.note("loading the speech models and the LLM...")
        stt, tts = build_engines(self.settings.profile)
        stack.push_async_callback(stt.aclose)
        stack.push_async_callback(tts.aclose)
        agent = await stack.enter_async_context(
            open_agent(self.settings, llm=self.llm, metrics=self.metrics)
        )
        detector = turn_detector(self.settings.profile)  # the rooms' sessions share its model
        if not await self._until_stopped(load_models(agent, stt, tts, detector)):
            return None
        return agent, stt, tts

    async def _until_stopped(self, work: Awaitable[Any]) -> bool:
        """Run ``work``; False if Ctrl-C/SIGTERM came first (``work`` is then cancelled)."""
        import asyncio

        task = asyncio.ensure_future(work)
        if isinstance(task, asyncio.Task):
            task.set_name("join-step")
        stopping = asyncio.create_task(self.stop.wait(), name="join-stop")
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not task.done():
                task.cancel()
            await asyncio.gather(task, stopping, return_exceptions=True)
        if task.cancelled():
            return False
        task.result()  # its failure is the command's
        return True

    def _handle_signals(self) -> Callable[[], None]:
        """Ctrl-C or SIGTERM: leave cleanly; a second one: stop waiting (exit code 130)."""
        import asyncio

        loop = asyncio.get_running_loop()
        main = asyncio.current_task()

        def on_signal() -> None:
            if self.stop.is_set() and main is not None:
                main.cancel()
            self.stop.set()

        signals = (signal.SIGINT, signal.SIGTERM)
        for number in signals:
            loop.add_signal_handler(number, on_signal)

        def remove() -> None:
            for number in signals:
                loop.remove_signal_handler(number)

        return remove
