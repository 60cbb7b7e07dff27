"""``va chat``: a text conversation with the agent.

Three ways in, one agent: ``--message`` (one turn), standard input (one turn
per line, for scripts and pipes) and, on a terminal, an interactive REPL with
line editing, history and slash commands. Replies stream as they are generated;
``--json`` prints one JSON object per turn instead.

Every conversation is a session (docs/sessions.md): its turns go to the
session store as they end; ``--continue`` resumes the last chat session and
``--session ID`` a given one, their history loaded into the agent.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, AsyncExitStack, nullcontext, suppress
from typing import TYPE_CHECKING, TextIO

import typer

from voice_agent_cli.cli import observability
from voice_agent_cli.cli.agent_flags import AgentFlags, agent_command
from voice_agent_cli.cli.common import (
    JsonOption,
    SessionOption,
    check_one_session,
    loading_status,
    print_json,
    stderr_console,
)
from voice_agent_cli.errors import VAError

if TYPE_CHECKING:
    from rich.console import Console

    from voice_agent_cli.config import Settings
    from voice_agent_cli.contracts.events import TurnCompleted
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.observe.metrics import Metrics
    from voice_agent_cli.privacy import PrivacySettings
    from voice_agent_cli.sessions.recorder import SessionBook, SessionRecorder

REPL_HELP = """\
Commands:
  /help      this help
  /reset     forget the conversation so far (and start a new session)
  /history   show the conversation the LLM sees
  /exit      leave (also /quit, Ctrl-D)
Ctrl-C stops a reply in progress; at the prompt it leaves."""


def register(app: typer.Typer) -> None:
    """Add ``va chat`` to ``app``."""
    app.command(help="Chat with the agent in text: a REPL, --message, or lines on stdin.")(chat)


@agent_command
def chat(
    message: str | None = typer.Option(
        None, "--message", "-m", help="Send one message, print the reply, exit."
    ),
    continue_last: bool = typer.Option(
        False,
        "--continue",
        "-c",
        help="Resume the last chat session (its history goes to the LLM).",
    ),
    session_id: str | None = SessionOption,
    json_output: bool = JsonOption,
    timeout: float | None = typer.Option(
        None, "--timeout", help="LLM request timeout in seconds (first chunk and between chunks)."
    ),
    experts: bool | None = typer.Option(
        None,
        "--experts/--no-experts",
        help="Route complex questions to expert advisors (the profile's, or the shipped ones).",
    ),
    show_config: bool = typer.Option(
        False, "--show-config", help="Print the effective configuration (secrets masked) and exit."
    ),
    dashboard: bool = observability.DashboardOption,
    *,
    flags: AgentFlags,
) -> None:
    """Chat with the agent."""
    check_one_session(continue_last, session_id)
    settings = _settings(flags, timeout=timeout, experts=experts)
    if show_config:
        _show_config(settings, json_output)
        return
    from voice_agent_cli.observe.command import observe_command

    with observe_command(settings, "chat", metrics_json=flags.metrics_json) as observed:
        session = ChatSession(
            settings,
            metrics=observed.metrics,
            json_output=json_output,
            dashboard=dashboard,
            resume=session_id,
            continue_last=continue_last,
        )
        if message is not None:
            session.run_scripted([message])
        elif not sys.stdin.isatty():
            session.run_scripted(_lines(sys.stdin))
        else:
            session.run_repl()
    if session.exit_code:
        # Every turn got its reply or its one-line error; the code says not all were answered.
        raise SystemExit(session.exit_code)


def _settings(flags: AgentFlags, *, timeout: float | None, experts: bool | None) -> Settings:
    own: dict[str, object] = {"llm.request_timeout_s": timeout, "experts.enabled": experts}
    settings = flags.settings(own)
    if experts and not settings.profile.experts.advisors:
        # --experts on a profile without advisors: bring the shipped ones.
        from voice_agent_cli.config import shipped_advisors

        settings = flags.settings({**own, "experts.advisors": shipped_advisors()})
    return settings


def _show_config(settings: Settings, json_output: bool) -> None:
    described = settings.describe()
    if json_output:
        print_json(described)
        return
    from rich.console import Console
    from rich.pretty import Pretty

    Console(highlight=False).print(Pretty(described, expand_all=True))


def _lines(stream: TextIO) -> Iterator[str]:
    """The non-blank lines of standard input, decoded here (invalid UTF-8 replaced)."""
    from voice_agent_cli.text import clean_text, decode_lines

    raw = getattr(stream, "buffer", None)
    lines = decode_lines(raw) if raw is not None else (clean_text(line) for line in stream)
    for line in lines:
        if line.strip():
            yield line.strip()


class ChatSession:
    """One conversation on one event loop, rendered to the terminal or as JSON."""

    def __init__(
        self,
        settings: Settings,
        *,
        json_output: bool,
        dashboard: bool = False,
        resume: str | None = None,
        continue_last: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        import asyncio

        self.settings = settings
        #: The command's registry: the agent reports into it, the dashboard reads it.
        self.metrics = metrics
        self.json_output = json_output
        self.dashboard = dashboard
        self.resume = resume
        self.continue_last = continue_last
        self._book: SessionBook | None = None
        #: Where this conversation's turns are kept (None: sessions are off).
        self.recorder: SessionRecorder | None = None
        self.err: Console = stderr_console()
        self._runner = asyncio.Runner()
        self._stack = AsyncExitStack()
        self._agent: Agent | None = None
        #: 0 while every turn was answered; else the exit code of the first that was not.
        self.exit_code = 0
        self.turns = 0
        self.unanswered = 0

    # -- modes -----------------------------------------------------------------

    def run_scripted(self, messages: Iterable[str]) -> None:
        """Answer each message in turn (``--message``, or one turn per line of stdin).

        A turn that fails prints its one-line error (a JSON object with
        ``--json``) and the session goes on with the next line. Afterwards
        :attr:`exit_code` is 0 if every turn was answered, else the exit code
        of the first turn that was not (its error's, or for a degraded reply
        its cause's); a summary line on stderr says how many. A failure to
        start the agent at all (no model, a bad profile) ends the run at once.
        """
        try:
            with self._live_dashboard():
                for text in messages:
                    self._ensure_agent()
                    self.turns += 1
                    try:
                        self._runner.run(self._turn(text))
                    except VAError as exc:
                        self._failed_turn(text, exc)
        finally:
            self.close()
        if self.recorder is not None and self.turns and self.err.is_terminal:
            self.err.print(f"[dim](session {self.recorder.id}; va chat --continue resumes it)[/]")
        if self.unanswered and self.turns > 1:
            self.err.print(
                f"va: {self.unanswered} of {self.turns} turns were not answered",
                markup=False,
                highlight=False,
            )

    def run_repl(self) -> None:
        """An interactive conversation until /exit, Ctrl-D or Ctrl-C at the prompt."""
        from voice_agent_cli.text import clean_text

        # The terminal's bytes are decoded here: an invalid one is a U+FFFD, not an error.
        reconfigure = getattr(sys.stdin, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
        history = _ReadlineHistory(self.settings.profile.privacy)
        try:
            self._ensure_agent()
            self.err.print(
                f"[bold]va chat[/] ({self._describe_llm()}{self._describe_session()}) "
                "- /help for commands, /exit to leave"
            )
            while True:
                try:
                    line = clean_text(input("you> ")).strip()
                except (EOFError, KeyboardInterrupt):
                    sys.stdout.write("\n")
                    break
                if not line:
                    continue
                if line.startswith("/"):
                    if not self._command(line):
                        break
                    continue
                try:
                    self._runner.run(self._turn(line, label="va> "))
                    self._print_dashboard()
                except KeyboardInterrupt:
                    sys.stdout.write("\n")
                    self.err.print("[dim](reply interrupted)[/]")
                except VAError as exc:
                    self.err.print(f"[red]va:[/] {exc}")
        finally:
            history.save()
            self.close()

    def close(self) -> None:
        """Close the agent and the event loop (idempotent)."""
        if self._runner is None:
            return
        try:
            self._runner.run(self._stack.aclose())
        finally:
            self._runner.close()
            self._runner = None  # type: ignore[assignment]

    # -- internals -------------------------------------------------------------

    def _live_dashboard(self) -> AbstractContextManager[object]:
        """The live dashboard for a scripted run (``--dashboard``), else nothing."""
        if not self.dashboard:
            return nullcontext()
        from voice_agent_cli.ui.dashboard import LiveDashboard

        return LiveDashboard(self._registry(), self.err, title="va chat")

    def _print_dashboard(self) -> None:
        """In the REPL, the dashboard is drawn once after each turn: input stays undisturbed."""
        if self.dashboard:
            from voice_agent_cli.ui.dashboard import render

            self.err.print(render(self._registry().as_json(), title="va chat"))

    def _registry(self) -> Metrics:
        """The command's metrics (the registry in force, for a session built without one)."""
        from voice_agent_cli.observe import metrics

        return self.metrics or metrics.current()

    def _describe_llm(self) -> str:
        from voice_agent_cli.providers.chain import describe_chain

        return describe_chain(self.settings)

    def _describe_session(self) -> str:
        recorder = self.recorder
        if recorder is None:
            return ""
        if recorder.resumed:
            return f", session {recorder.id} resumed: {recorder.session.info.turns} turns"
        return f", session {recorder.id}"

    def _ensure_agent(self) -> Agent:
        if self._agent is None:
            self._agent = self._runner.run(self._open_agent())
        return self._agent

    async def _open_agent(self) -> Agent:
        from voice_agent_cli.compose.agent import open_agent

        # The session first: an unknown --session ID fails before any model loads.
        await self._open_session()
        message = "Loading the local model..." if self.settings.llm_provider == "local" else ""
        with loading_status(message or "Connecting...") as progress:
            agent = await self._stack.enter_async_context(
                open_agent(self.settings, progress=progress, metrics=self._registry())
            )
            await agent.start()
            # No cold first turn: the system prompt and the tool list are evaluated now,
            # with the load, not inside the first reply. (Reading the prompt in a thread
            # to warm up while the user types left readline holding the terminal at exit.)
            await agent.warm_up()
        if self.recorder is not None:
            await self.recorder.load_history(agent.conversation)
        return agent

    async def _open_session(self) -> None:
        """The session this conversation is kept in: new, resumed, or none (sessions off)."""
        from voice_agent_cli.sessions.recorder import open_session_book

        required = self.resume is not None or self.continue_last
        book = open_session_book(self.settings, required=required)
        if book is None:
            return
        self._stack.push_async_callback(book.aclose)
        self._book = book
        self.recorder = await book.start(
            "chat",
            llm=self._describe_llm(),
            resume=self.resume,
            continue_last=self.continue_last,
        )

    def _record(self, event: TurnCompleted) -> None:
        if self.recorder is not None:
            self.recorder.add(
                turn_id=event.turn_id,
                user=event.user_text,
                reply=event.reply,
                source=event.source,
                llm=event.llm,
                tool_calls=event.tool_calls,
                timings=event.timings,
                interrupted=event.interrupted,
            )

    async def _turn(self, text: str, label: str = "") -> None:
        from voice_agent_cli.contracts.events import TurnCompleted
        from voice_agent_cli.ui.chat_view import ChatTurnView

        agent = self._agent or await self._open_agent()
        self._agent = agent
        session = self.recorder.id if self.recorder is not None else None
        renderer = ChatTurnView(self.json_output, sys.stdout, self.err, label, session)
        try:
            async for event in agent.run_turn(text):
                renderer.show(event)
                if isinstance(event, TurnCompleted):
                    self._record(event)
                if (
                    isinstance(event, TurnCompleted)
                    and event.source == "degraded"
                    and not event.details.get("cached")
                ):
                    # The degraded notice was said and its cause told on stderr: not an answer.
                    self._count_unanswered(int(event.details.get("exit_code", 1)))
            if self.recorder is not None:
                # Kept before the prompt comes back: a REPL closed by a kill loses no turn.
                await self.recorder.flush()
        except VAError as exc:
            # The error itself is reported by the caller; a script still gets the
            # turn as one JSON object, with whatever part of the reply was said.
            renderer.failed(text, exc, agent.llm.answered_by().name)
            raise

    def _failed_turn(self, text: str, exc: VAError) -> None:
        """Report a turn that failed, in one line, and count it.

        With ``--json`` the turn's JSON object (partial reply, error) was
        already printed by the renderer as the turn ended.
        """
        sys.stdout.flush()
        self.err.print(f"va: {exc}", markup=False, highlight=False, soft_wrap=True)
        self._count_unanswered(exc.exit_code)

    def _count_unanswered(self, exit_code: int) -> None:
        self.unanswered += 1
        if not self.exit_code:
            self.exit_code = exit_code or 1

    def _command(self, line: str) -> bool:
        """Run a slash command; ``False`` means leave the REPL."""
        command = line.split()[0].lower()
        if command in ("/exit", "/quit"):
            return False
        if command == "/help":
            self.err.print(REPL_HELP)
        elif command == "/reset":
            self._ensure_agent().reset()
            if self._book is not None:
                self.recorder = self._runner.run(self._book.start("chat", llm=self._describe_llm()))
                self.err.print(f"[dim](conversation forgotten; new session {self.recorder.id})[/]")
            else:
                self.err.print("[dim](conversation forgotten)[/]")
        elif command == "/history":
            for entry in self._ensure_agent().conversation.messages:
                shown = entry.content or ", ".join(call.name for call in entry.tool_calls)
                self.err.print(f"[dim]{entry.role}:[/] {shown}", markup=True, highlight=False)
        else:
            self.err.print(f"unknown command {command} - /help lists them")
        return True


class _ReadlineHistory:
    """Line editing and a persistent input history under VA_HOME, where readline exists.

    The file is private to the user (0600) and follows ``privacy.store_text``:
    written as typed, redacted, or not at all.
    """

    def __init__(self, privacy: PrivacySettings) -> None:
        from voice_agent_cli.paths import ensure_dir, va_home

        self.privacy = privacy
        self.path = ensure_dir(va_home()) / "chat_history"
        try:
            import readline
        except ImportError:  # pragma: no cover - Windows without pyreadline
            self._readline = None
            return
        self._readline = readline
        readline.set_history_length(1000)
        if self.path.exists():
            with suppress(OSError):
                readline.read_history_file(self.path)

    def save(self) -> None:
        readline = self._readline
        if readline is None or self.privacy.store_text == "none":
            return
        from voice_agent_cli.paths import private_file

        if self.privacy.store_text == "redacted":
            # The session is over: its in-memory history may be redacted in place.
            for index in range(readline.get_current_history_length()):
                line = readline.get_history_item(index + 1) or ""
                readline.replace_history_item(index, self.privacy.stored(line) or "")
        with suppress(OSError):
            readline.write_history_file(private_file(self.path))
