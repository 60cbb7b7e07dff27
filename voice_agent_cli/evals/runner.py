"""Run eval cases against a real agent, one fresh agent and home per case.

::

    case ─► scratch VA_HOME ─► open_agent(settings) ─► turn 1 ─► checks
                                  │                    turn 2 ─► checks  ...
                                  └─ text: agent.run_turn
                                     audio: VAD ─► STT ─► agent ─► TTS (the voice loop)

Every case starts from nothing: its own temporary ``VA_HOME`` (so notes, the
reply cache and sessions never leak from one case into the next, nor touch
the user's own) and its own agent on the run's settings. The model itself is
loaded once per process and shared (``LocalLLM`` caches it), and the speech
engines are loaded once, at the first audio turn.

An LLM error inside a turn is that turn's outcome (the case fails unless it
expects the error); a missing dependency (no model, no tool server binary)
ends the run, since no later case could fare better.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, aclosing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from voice_agent_cli.compose.agent import open_agent
from voice_agent_cli.contracts.events import Notice, TextDelta, ToolCallStarted, TurnCompleted
from voice_agent_cli.errors import DependencyUnavailable, VAError
from voice_agent_cli.evals.cases import EvalCase, EvalTurn
from voice_agent_cli.evals.checks import check_turn
from voice_agent_cli.evals.results import CaseResult, EvalReport, TurnOutcome, TurnResult
from voice_agent_cli.speech.audio import read_audio
from voice_agent_cli.speech.build import build_engines, load_engines, spoken_turn

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.contracts.events import TurnEvent
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.llm.base import LLM
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech

logger = logging.getLogger("va.eval")

#: Called before each case (index from 1, count, case) and after it (with its result).
CaseStarted = Callable[[int, int, EvalCase], None]
CaseFinished = Callable[[CaseResult], None]


class EvalRunner:
    """Runs cases on the agent that ``settings`` build (or on ``llm_factory``'s LLM)."""

    def __init__(
        self,
        settings: Settings,
        *,
        llm_factory: Callable[[], LLM] | None = None,
        on_case_started: CaseStarted | None = None,
        on_case_finished: CaseFinished | None = None,
    ) -> None:
        self.settings = settings
        self.llm_factory = llm_factory
        self.on_case_started = on_case_started
        self.on_case_finished = on_case_finished
        self._engines: tuple[SpeechToText, TextToSpeech] | None = None
        self._llm_name = ""

    async def run(self, cases: list[EvalCase]) -> EvalReport:
        """Run every case in order and return the report."""
        started = time.perf_counter()
        results: list[CaseResult] = []
        with tempfile.TemporaryDirectory(prefix="va-eval-") as root:
            try:
                for index, case in enumerate(cases, start=1):
                    if self.on_case_started:
                        self.on_case_started(index, len(cases), case)
                    result = await self._run_case(case, Path(root) / f"case-{index}")
                    results.append(result)
                    if self.on_case_finished:
                        self.on_case_finished(result)
            finally:
                await self._close_engines()
        return EvalReport(
            results,
            llm=self._llm_name,
            profile=self.settings.source,
            seconds=time.perf_counter() - started,
        )

    async def _run_case(self, case: EvalCase, home: Path) -> CaseResult:
        result = CaseResult(case)
        if case.skip is not None:
            result.skipped = case.skip
            return result

        started = time.perf_counter()
        with _scratch_home(home):
            llm = self.llm_factory() if self.llm_factory else None
            async with open_agent(self.settings, llm=llm) as agent:
                await agent.start()
                self._llm_name = agent.llm.name
                recorder = _EventRecorder()
                agent.add_observer(recorder)
                for turn in case.turn:
                    outcome = await self._run_turn(agent, turn, recorder)
                    checks = check_turn(turn, outcome)
                    result.turns.append(TurnResult(outcome, checks))
                    if outcome.error is not None and turn.error is None:
                        break  # later turns build on this one
        result.seconds = time.perf_counter() - started
        logger.info(
            "eval case %s %s",
            case.id,
            "passed" if result.passed else "failed",
            extra={"case": case.id, "passed": result.passed, "failures": result.failures},
        )
        return result

    async def _run_turn(
        self, agent: Agent, turn: EvalTurn, recorder: _EventRecorder
    ) -> TurnOutcome:
        recorder.clear()
        outcome = TurnOutcome(says=turn.says)
        try:
            if turn.text is not None:
                async with aclosing(agent.run_turn(turn.text)) as events:
                    async for _ in events:
                        pass  # the recorder sees every event
            else:
                assert turn.audio is not None
                outcome.heard = await self._say(agent, turn.audio, outcome)
        except DependencyUnavailable:
            raise
        except VAError as exc:
            outcome.error = str(exc)
        recorder.fill(outcome)
        return outcome

    async def _say(self, agent: Agent, audio: Path, outcome: TurnOutcome) -> str:
        """Feed ``audio`` through the voice loop in real time; return what the STT heard."""
        stt, tts = await self._speech_engines()
        turn = await spoken_turn(agent, read_audio(audio), self.settings.profile, stt, tts)
        # The voice stages (e2e_latency, tts_ttfb, ...) join the core's timings.
        outcome.timings.update(turn.timings)
        return turn.user

    async def _speech_engines(self) -> tuple[SpeechToText, TextToSpeech]:
        if self._engines is None:
            stt, tts = build_engines(self.settings.profile)
            await load_engines(stt, tts)
            self._engines = (stt, tts)
        return self._engines

    async def _close_engines(self) -> None:
        if self._engines is not None:
            async with AsyncExitStack() as stack:
                for engine in self._engines:
                    stack.push_async_callback(engine.aclose)
            self._engines = None


class _EventRecorder:
    """An agent observer that keeps what the current turn produced."""

    def __init__(self) -> None:
        self.events: list[TurnEvent] = []

    def __call__(self, event: TurnEvent) -> None:
        self.events.append(event)

    def clear(self) -> None:
        self.events = []

    def fill(self, outcome: TurnOutcome) -> None:
        """Copy the turn's reply, path, LLM, tool calls, timings and notices into ``outcome``."""
        deltas: list[str] = []
        for event in self.events:
            if isinstance(event, TextDelta):
                deltas.append(event.text)
            elif isinstance(event, ToolCallStarted):
                outcome.tool_calls.append(
                    {"name": event.call.name, "arguments": dict(event.call.arguments)}
                )
            elif isinstance(event, Notice):
                outcome.notices.append(event.message)
            elif isinstance(event, TurnCompleted):
                outcome.reply = event.reply
                outcome.source = event.source
                outcome.llm = event.llm
                outcome.timings = {**event.timings, **outcome.timings}
                outcome.tool_decisions = list(event.details.get("tool_decisions", []))
        if not outcome.reply and deltas:
            outcome.reply = "".join(deltas)  # a turn that failed mid-reply


@contextmanager
def _scratch_home(home: Path) -> Iterator[None]:
    """Run a case with ``VA_HOME`` pointing at its own fresh directory.

    The tool servers va starts inherit it, so the case's notes live there too.
    The model store is not under ``VA_HOME``: models are not assembled again.
    """
    home.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("VA_HOME")
    os.environ["VA_HOME"] = str(home)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("VA_HOME", None)
        else:
            os.environ["VA_HOME"] = previous
