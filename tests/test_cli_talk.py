"""``va talk`` run whole: WAV files in, WAV out, JSON per turn, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile as sf

from tests.cli_helpers import json_lines, run_va, run_va_process
from tests.speech_fixtures import silence, timeline, tone, words, write
from voice_agent_cli.testing.fake_llm import FakeLLM

Say = Callable[[str], np.ndarray]


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    """A profile without MCP servers or cached replies: turns go to the (fake) LLM."""
    path = tmp_path / "voice.toml"
    path.write_text('description = "voice tests"\n[cache]\nenabled = false\n')
    return path


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    """``va talk`` in-process answers with a scripted LLM."""
    llm = FakeLLM(responder=lambda request: "Paris is the capital of France.")
    monkeypatch.setattr("voice_agent_cli.compose.agent.build_llm", lambda settings, **kw: llm)
    yield llm


@pytest.mark.slow
def test_a_wav_question_gets_a_wav_reply_and_one_json_object(
    tmp_path: Path, say: Say, profile: Path, fake_llm: FakeLLM, whisper_loaded: None
) -> None:
    question = write(
        tmp_path / "question.wav", timeline(silence(0.3), say("What is the capital of France?"))
    )
    reply = tmp_path / "reply.wav"

    result = run_va(
        "talk",
        "--input",
        str(question),
        "--output",
        str(reply),
        "--json",
        "--profile",
        str(profile),
    )

    assert result.exit_code == 0, result.stderr
    [turn] = json_lines(result.stdout)
    assert words(turn["user"]) == "what is the capital of france"
    assert turn["reply"] == "Paris is the capital of France."
    assert turn["interrupted"] is False and turn["source"] == "llm"
    for stage in (
        "end_of_turn_delay",
        "transcription_delay",
        "llm_ttft",
        "tts_ttfb",
        "e2e_latency",
    ):
        assert turn["timings"][stage] >= 0
    # The conversation is a session: the turn, as transcribed, is kept in the store.
    shown = json_lines(run_va("sessions", "show", turn["session"], "--json").stdout)[0]
    assert shown["session"]["kind"] == "talk"
    [kept] = shown["turns"]
    assert kept["user"] == turn["user"] and kept["reply"] == turn["reply"]
    info = sf.info(reply)
    assert info.samplerate == 22050 and info.channels == 1
    assert 1.0 < info.duration < 4.0
    heard, _ = sf.read(reply, dtype="float32")
    assert np.abs(heard).max() > 0.1


@pytest.mark.slow
def test_continue_resumes_the_last_talk_session_with_its_history(
    tmp_path: Path, say: Say, profile: Path, fake_llm: FakeLLM, whisper_loaded: None
) -> None:
    first = write(tmp_path / "first.wav", timeline(silence(0.3), say("My name is Priya.")))
    second = write(tmp_path / "second.wav", timeline(silence(0.3), say("What is my name?")))
    common = ("--output", str(tmp_path / "out"), "--json", "--profile", str(profile))
    started = run_va("talk", "--input", str(first), *common)
    assert started.exit_code == 0, started.stderr
    [opening] = json_lines(started.stdout)

    resumed = run_va("talk", "--continue", "--input", str(second), *common)

    assert resumed.exit_code == 0, resumed.stderr
    [turn] = json_lines(resumed.stdout)
    assert turn["session"] == opening["session"]
    # The LLM heard the earlier turn before the new question.
    history = [m.content for m in fake_llm.requests[-1].messages]
    assert history[:2] == [opening["user"], opening["reply"]]
    assert words(history[-1]) == "what is my name"
    shown = json_lines(run_va("sessions", "show", turn["session"], "--json").stdout)[0]
    assert [t["seq"] for t in shown["turns"]] == [1, 2]


def test_an_unknown_session_fails_before_any_model_loads(tmp_path: Path) -> None:
    question = write(tmp_path / "q.wav", timeline(silence(0.3), tone(0.5)))
    result = run_va("talk", "--session", "nope", "--input", str(question))
    assert result.exit_code == 2
    assert result.stderr.strip() == "va: no session 'nope' (`va sessions list` shows them)"
    both = run_va("talk", "--continue", "--session", "x", "--input", str(question))
    assert both.exit_code == 2 and "pick one" in both.stderr


@pytest.mark.slow
def test_a_directory_of_files_is_one_conversation_in_plain_text(
    tmp_path: Path, say: Say, profile: Path, fake_llm: FakeLLM, whisper_loaded: None
) -> None:
    folder = tmp_path / "turns"
    folder.mkdir()
    write(folder / "01.wav", say("My name is Ada."))
    write(folder / "02.wav", timeline(silence(0.5), say("What is my name?")), 16000)
    replies = tmp_path / "replies"
    replies.mkdir()

    result = run_va("talk", "-i", str(folder), "-o", str(replies), "--profile", str(profile))

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["you", "va", "you", "va"]
    assert jiwer.wer("my name is ada", words(lines[0][4:])) <= 0.25
    assert "e2e" in result.stderr  # per-turn timings on stderr
    # One conversation: the second request carried the first exchange.
    assert len(fake_llm.requests) == 2 and len(fake_llm.requests[1].messages) == 3
    assert sorted(p.name for p in replies.iterdir()) == ["reply-001.wav", "reply-002.wav"]


@pytest.mark.slow
def test_silence_only_input_gives_no_turn_and_a_silent_file(
    tmp_path: Path, profile: Path, fake_llm: FakeLLM
) -> None:
    quiet = write(tmp_path / "quiet.wav", silence(2.0))
    reply = tmp_path / "reply.wav"
    result = run_va("talk", "-i", str(quiet), "-o", str(reply), "--json", "--profile", str(profile))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert fake_llm.requests == []
    assert sf.info(reply).duration < 0.5


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "not a WAV file"),
        (lambda p: p.write_text("not audio at all"), "not a WAV file"),
        (lambda p: sf.write(p, np.zeros(0, np.float32), 16000), "holds no audio"),
        (lambda p: sf.write(p, tone(0.5), 4000), "unsupported sample rate 4000 Hz"),
        (
            lambda p: (sf.write(p, tone(1.0), 16000), p.write_bytes(p.read_bytes()[:9000])),
            "truncated WAV file",
        ),
    ],
    ids=["zero-bytes", "not-wav", "empty", "rate", "truncated"],
)
def test_bad_audio_files_exit_2_with_one_line(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    bad = tmp_path / "bad.wav"
    make(bad)
    result = run_va("talk", "--input", str(bad))
    assert result.exit_code == 2
    assert message in result.stderr and str(bad) in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_a_missing_input_file_exits_2(tmp_path: Path) -> None:
    result = run_va("talk", "--input", str(tmp_path / "nope.wav"))
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_a_bad_echo_mode_is_a_usage_error() -> None:
    result = run_va("talk", "--echo", "loud", "--input", "x.wav")
    assert result.exit_code == 2
    assert "voice.echo" in result.stderr


def test_without_an_audio_device_talk_suggests_input() -> None:
    # This machine (like CI) has PortAudio but no sound card.
    result = run_va_process("talk")
    assert result.returncode == 3
    assert "no microphone found" in result.stderr and "--input" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_list_devices_without_devices() -> None:
    result = run_va("talk", "--list-devices")
    assert result.exit_code == 0
    assert "no audio devices found" in result.stderr
    as_json = run_va("talk", "--list-devices", "--json")
    assert json.loads(as_json.stdout) == []


def test_the_help_lists_the_voice_options() -> None:
    result = run_va("talk", "--help")
    for option in ("--input", "--output", "--json", "--list-devices", "--input-device", "--echo"):
        assert option in result.stdout


def test_va_help_stays_light() -> None:
    code = (
        "import sys; import voice_agent_cli.cli.app; "
        "heavy = {'numpy', 'faster_whisper', 'ctranslate2', 'piper', 'sounddevice', "
        "'livekit', 'onnxruntime', 'soundfile'} & set(sys.modules); print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_talk_with_the_embedded_llm(tmp_path: Path, say: Say, profile: Path) -> None:
    question = write(
        tmp_path / "q.wav", timeline(silence(0.3), say("What is the capital of France?"))
    )
    reply = tmp_path / "r.wav"
    result = run_va_process(
        "talk",
        "-i",
        str(question),
        "-o",
        str(reply),
        "--json",
        "--llm",
        "local",
        "--profile",
        str(profile),
        env={"VA_LLM__TEMPERATURE": "0"},  # greedy: the answer must not depend on luck
    )
    assert result.returncode == 0, result.stderr
    [turn] = json_lines(result.stdout)
    assert turn["llm"].startswith("local:")
    assert "Paris" in turn["reply"]
    assert turn["timings"]["e2e_latency"] > turn["timings"]["llm_ttft"] > 0
    assert sf.info(reply).duration > 0.5


def test_the_live_view_shows_both_sides_the_state_and_the_timings() -> None:
    import io

    from rich.console import Console

    from voice_agent_cli.speech.events import (
        AgentText,
        BargeIn,
        StateChanged,
        UserTranscript,
        VoiceTurn,
    )
    from voice_agent_cli.ui.talk_view import TalkView

    screen = io.StringIO()
    console = Console(file=screen, width=100, force_terminal=True, color_system=None)
    err = Console(file=io.StringIO(), width=100)
    out = io.StringIO()
    with TalkView(out, err, live_console=console, header="va talk · test") as view:
        view.show(UserTranscript("What is the capital of France?"))
        view.show(StateChanged("thinking"))
        view.show(AgentText("Paris is"))
        assert "Paris is" in _text(view, console)
        view.show(StateChanged("speaking"))
        view.show(BargeIn(1.5))
        timings = {"e2e_latency": 512.4, "end_of_turn_delay": 416.0, "tts_ttfb": 40.0}
        view.show(VoiceTurn(1, "What is the capital of France?", "Paris is", True, timings))
        view.show(StateChanged("listening"))
        shown = _text(view, console)
    assert "you: What is the capital of France?" in shown
    assert "va: Paris is  [interrupted]" in shown
    assert "listening" in shown and "e2e 512 ms · end of turn 416 · tts ttfb 40" in shown
    assert out.getvalue() == ""  # the live view owns the terminal: no plain lines


def _text(view: object, console: object) -> str:
    import io

    from rich.console import Console

    capture = Console(file=io.StringIO(), width=100, color_system=None)
    capture.print(view.render())  # type: ignore[attr-defined]
    return capture.file.getvalue()  # type: ignore[attr-defined]
