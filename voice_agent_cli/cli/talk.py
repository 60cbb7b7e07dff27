"""``va talk``: a voice conversation, microphone to speaker, or WAV files headless.

With no ``--input`` the microphone is the source and the speaker the sink (echo
cancelled, barge-in on). ``--input`` takes WAV files or directories, each file
one turn of the same conversation; ``--output`` writes the agent's voice to a
WAV file (or one file per reply into a directory). A live view shows the
transcript, the agent's state and per-turn timings on a terminal; plain lines
otherwise; ``--json`` prints one JSON object per turn. The conversation is
kept as a session (docs/sessions.md); ``--continue`` resumes the last talk session
and ``--session ID`` any one (``va chat --session ID`` can go on with it too).
"""

from __future__ import annotations

import sys
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from voice_agent_cli.cli.agent_flags import AgentFlags, agent_command
from voice_agent_cli.cli.common import (
    JsonOption,
    SessionOption,
    check_one_session,
    live_console,
    loading_status,
    print_json,
    stderr_console,
)

if TYPE_CHECKING:
    import asyncio

    from voice_agent_cli.config import Profile, Settings
    from voice_agent_cli.observe.metrics import Metrics
    from voice_agent_cli.sessions.recorder import SessionBook, SessionRecorder
    from voice_agent_cli.speech.io import AudioSink, AudioSource
    from voice_agent_cli.speech.tts import TextToSpeech
    from voice_agent_cli.speech.xruns import XrunCounter
    from voice_agent_cli.ui.talk_view import TalkView


def register(app: typer.Typer) -> None:
    """Add ``va talk`` to ``app``."""
    app.command(
        help="Talk with the agent: microphone to speaker, or WAV files with --input/--output."
    )(talk)


@agent_command
def talk(
    inputs: list[Path] = typer.Option(
        [],
        "--input",
        "-i",
        help="A WAV file (or a directory of them) to use instead of the microphone; "
        "repeat for more turns.",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write the agent's voice to this WAV file (a directory: one file per reply) "
        "instead of the speaker.",
    ),
    json_output: bool = JsonOption,
    continue_last: bool = typer.Option(
        False,
        "--continue",
        "-c",
        help="Resume the last talk session (its history goes to the LLM).",
    ),
    session_id: str | None = SessionOption,
    list_devices: bool = typer.Option(
        False, "--list-devices", help="List the audio devices and exit."
    ),
    input_device: str | None = typer.Option(
        None, "--input-device", help="Microphone: an index or part of a name (--list-devices)."
    ),
    output_device: str | None = typer.Option(
        None, "--output-device", help="Speaker: an index or part of a name (--list-devices)."
    ),
    echo: str | None = typer.Option(
        None,
        "--echo",
        help="aec (cancel the agent's voice from the mic), half-duplex (mute the mic while "
        "the agent speaks) or off (headphones).",
    ),
    realtime: bool = typer.Option(
        False, "--realtime", help="Feed --input files at the pace of real time, like a microphone."
    ),
    voice: Path | None = typer.Option(None, "--voice", help="A piper .onnx voice."),
    speed: float | None = typer.Option(None, "--speed", help="Speaking rate (0.5-2.0)."),
    stt_model: Path | None = typer.Option(
        None, "--stt-model", help="A faster-whisper (CTranslate2) model directory."
    ),
    language: str | None = typer.Option(None, "--language", help="Language of the user's speech."),
    beam_size: int | None = typer.Option(None, "--beam-size", help="Whisper beam size."),
    end_silence_ms: int | None = typer.Option(
        None, "--end-silence-ms", help="Silence (ms) that ends the user's turn."
    ),
    *,
    flags: AgentFlags,
) -> None:
    """Talk with the agent (voice loop)."""
    import asyncio

    check_one_session(continue_last, session_id)
    if list_devices:
        _list_devices(json_output)
        return
    overrides: dict[str, Any] = {
        "voice.input_device": input_device,
        "voice.output_device": output_device,
        "voice.echo": echo,
        "tts.voice": str(voice) if voice else None,
        "tts.speed": speed,
        "stt.model_path": str(stt_model) if stt_model else None,
        "stt.language": language,
        "stt.beam_size": beam_size,
        "vad.end_of_turn_silence_ms": end_silence_ms,
    }
    settings = flags.settings(overrides)
    from voice_agent_cli.observe.command import observe_command

    talk_run = TalkRun(
        settings,
        inputs=inputs,
        output=output,
        json_output=json_output,
        resume=session_id,
        continue_last=continue_last,
    )
    with observe_command(settings, "talk", metrics_json=flags.metrics_json) as observed:
        talk_run.metrics = observed.metrics
        try:
            asyncio.run(talk_run.main(realtime=realtime))
        except KeyboardInterrupt:
            if inputs:
                raise  # a scripted run that was stopped: exit code 130
            stderr_console().print("[dim]bye[/]")


def _list_devices(json_output: bool) -> None:
    from voice_agent_cli.speech.devices import list_devices
    from voice_agent_cli.speech.pulse import pulse_devices

    devices = list_devices()
    # Behind PortAudio's "pulse" device: the server's own microphones and speakers.
    pulse = (
        [*pulse_devices("input"), *pulse_devices("output")]
        if any(d.name == "pulse" for d in devices)
        else []
    )
    if json_output:
        print_json(
            [device.as_json() for device in devices]
            + [{"pulse": d.name, "name": d.description, "kind": d.kind} for d in pulse]
        )
        return
    err = stderr_console()
    if not devices:
        err.print("no audio devices found; va talk --input question.wav works without one")
        return
    for device in devices:
        marks = [
            m
            for m, on in (
                ("default in", device.default_input),
                ("default out", device.default_output),
            )
            if on
        ]
        sys.stdout.write(
            f"{device.index:>3}  {device.name}  (in {device.inputs}, out {device.outputs}, "
            f"{device.default_rate:.0f} Hz){'  [' + ', '.join(marks) + ']' if marks else ''}\n"
        )
    if pulse:
        sys.stdout.write("PulseAudio, through 'pulse' (name one with --input/--output-device):\n")
    for known in pulse:
        role = "monitor" if known.monitor else ("mic" if known.kind == "input" else "speaker")
        sys.stdout.write(f"     {known.description}  ({role}: {known.name})\n")


class TalkRun:
    """One ``va talk`` run: opens the audio, the models and the agent, then the voice loop."""

    def __init__(
        self,
        settings: Settings,
        *,
        inputs: list[Path],
        output: Path | None,
        json_output: bool,
        resume: str | None = None,
        continue_last: bool = False,
    ) -> None:
        self.settings = settings
        self.inputs = inputs
        self.output = output
        self.json_output = json_output
        #: The session to go on with: an id (``--session``), or the last one (``--continue``).
        self.resume = resume
        self.continue_last = continue_last
        #: The command's registry: the agent reports into it, the view reads it.
        self.metrics: Metrics | None = None
        self._xrun_counter: XrunCounter | None = None

    async def main(self, *, realtime: bool = False) -> None:
        import asyncio

        from voice_agent_cli.compose.agent import open_agent
        from voice_agent_cli.observe import metrics
        from voice_agent_cli.sessions.recorder import open_session_book
        from voice_agent_cli.speech.build import (
            build_engines,
            import_engine_modules,
            load_models,
            voice_options,
        )
        from voice_agent_cli.speech.events import VoiceEvent, VoiceTurn
        from voice_agent_cli.speech.pipeline import VoiceSession
        from voice_agent_cli.ui.talk_view import TalkView

        registry = self.metrics = self.metrics or metrics.current()

        profile = self.settings.profile
        async with AsyncExitStack() as stack:
            # Audio first: a bad file or a missing device fails before any model loads.
            source = self._open_source(realtime)
            stack.push_async_callback(source.aclose)
            sink = self._open_sink()
            stack.push_async_callback(sink.aclose)
            # The session too: an unknown --session ID fails before any model loads.
            book = open_session_book(self.settings, required=self.resuming)
            if book is not None:
                stack.push_async_callback(book.aclose)
            recorder = await self._open_session(book)
            stt, tts = build_engines(profile)
            stack.push_async_callback(stt.aclose)
            stack.push_async_callback(tts.aclose)
            # Files and headphones need no echo handling; a speaker and a mic do.
            live_audio = not self.inputs and self.output is None
            with loading_status("Loading the speech models and the LLM...") as progress:
                agent = await stack.enter_async_context(
                    open_agent(self.settings, progress=progress, metrics=registry)
                )
                await asyncio.to_thread(import_engine_modules)  # before any parallel load
                await agent.llm.prepare()  # a first run's assembly shows its progress here
                # No cold first turn: a microphone listens while the models load.
                options = voice_options(profile, echo=None if live_audio else "off")
                loading = asyncio.create_task(
                    load_models(agent, stt, tts, options.turn_detector), name="talk-load"
                )
                stack.push_async_callback(_cancel, loading)
                if not source.realtime:
                    await loading  # a file is no user talking meanwhile
            if source.realtime:
                # The user takes a moment to speak: use it to make ready replies instant.
                warming = asyncio.create_task(
                    _warm_buffered_replies(tts, profile, loading), name="tts-warm"
                )
                stack.push_async_callback(_cancel, warming)

            err = stderr_console()
            if recorder is None and book is not None:
                recorder = await book.start("talk", llm=agent.llm.name)
            if recorder is not None and recorder.resumed:
                await recorder.load_history(agent.conversation)
            terminal = None if self.json_output else live_console(stderr=False)
            header = f"va talk · {agent.llm.name} · {stt.name} · {tts.name}"
            if recorder is not None:
                header += f" · session {recorder.id}"
            with TalkView(
                sys.stdout,
                err,
                json_output=self.json_output,
                live_console=terminal,
                header=header,
                metrics=registry,
            ) as view:

                def observe(event: VoiceEvent) -> None:
                    if isinstance(event, VoiceTurn):
                        event.report_metrics(registry)
                        if recorder is not None:
                            recorder.add_voice_turn(event)
                            event = replace(
                                event, details={**event.details, "session": recorder.id}
                            )
                    view.show(event)

                for device in (source, sink):
                    if hasattr(device, "notify"):  # microphone and speaker: lost, back, dropouts
                        device.notify = view.notice
                session = VoiceSession(
                    agent,
                    source,
                    sink,
                    stt=stt,
                    tts=tts,
                    options=options,
                    observer=observe,
                    ready=loading,
                )
                stack.push_async_callback(session.aclose)
                if source.realtime:
                    loading.add_done_callback(lambda task: _say_ready(task, view))
                if terminal is None and not self.json_output and not self.inputs:
                    err.print(f"[dim]{header} - listening (Ctrl-C to quit)[/]")
                await session.run()

    @property
    def resuming(self) -> bool:
        """True when ``--session`` or ``--continue`` asked for an earlier session."""
        return self.resume is not None or self.continue_last

    async def _open_session(self, book: SessionBook | None) -> SessionRecorder | None:
        """The session asked for by ``--session`` / ``--continue``; None for a new one."""
        if book is None or not self.resuming:
            return None
        from voice_agent_cli.providers.chain import describe_chain

        return await book.start(
            "talk",
            llm=describe_chain(self.settings),
            resume=self.resume,
            continue_last=self.continue_last,
        )

    def _open_source(self, realtime: bool) -> AudioSource:
        frame_ms = self.settings.profile.voice.frame_ms
        if self.inputs:
            from voice_agent_cli.speech.files import FileSource

            return FileSource.from_files(self.inputs, pace=realtime, frame_ms=frame_ms)
        from voice_agent_cli.speech.devices import MicrophoneSource

        microphone = MicrophoneSource(
            self.settings.profile.voice.input_device, frame_ms=frame_ms, xruns=self._xruns()
        )
        microphone.open()
        return microphone

    def _open_sink(self) -> AudioSink:
        from voice_agent_cli.speech.files import FileSink

        if self.output is not None or self.inputs:
            # Files in, no --output: the transcript is the result, the audio is dropped.
            return FileSink(self.output)
        from voice_agent_cli.speech.devices import SpeakerSink

        return SpeakerSink(self.settings.profile.voice.output_device, xruns=self._xruns())

    def _xruns(self) -> XrunCounter:
        """One dropout counter for the microphone and the speaker (one warning at most)."""
        if self._xrun_counter is None:
            from voice_agent_cli.speech.xruns import XrunCounter

            self._xrun_counter = XrunCounter(
                threshold=self.settings.profile.voice.xrun_warning, metrics=self.metrics
            )
        return self._xrun_counter


async def _warm_buffered_replies(
    tts: TextToSpeech, profile: Profile, loading: asyncio.Task[float]
) -> None:
    """Synthesise the profile's fixed pre-buffered replies once the models are loaded."""
    import asyncio

    from voice_agent_cli.speech.build import warm_buffered_replies

    await asyncio.gather(loading, return_exceptions=True)  # one load of the voice, not two
    await warm_buffered_replies(tts, profile)


def _say_ready(loading: asyncio.Task[float], view: TalkView) -> None:
    """Tell a microphone user the models are loaded (the first reply will not wait)."""
    if not loading.cancelled() and loading.exception() is None:
        view.notice(f"models ready in {loading.result():.1f} s")


async def _cancel(task: asyncio.Task[Any]) -> None:
    import asyncio

    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
