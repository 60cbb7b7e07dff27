"""``va talk`` through the real sound stack: PortAudio -> ALSA -> a private PulseAudio.

Each test runs the installed ``va talk`` on the virtual laptop of
``tests/pulse_fixtures.py``, speaks into its microphone with ``paplay`` and
listens to its speaker with ``parec``, as a user at a laptop would: a question
answered aloud (heard back with the same faster-whisper va uses), the agent's
own voice played back into the microphone without it interrupting itself,
a barge-in over a long reply, devices chosen by name, and a microphone
unplugged mid-session. Nothing here asserts on latency (the machine is shared).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import run_va_process
from tests.gemini_fixtures import TEST_KEY
from tests.pulse_fixtures import TalkProcess, write_profile
from tests.speech_fixtures import silence, timeline, words, write
from voice_agent_cli.speech.devices import STALL_S
from voice_agent_cli.speech.virtual_devices import VirtualAudio
from voice_agent_cli.testing.fake_gemini import FakeGemini, text

pytestmark = pytest.mark.slow

Say = Callable[[str], np.ndarray]

QUESTION = "What is the capital of France?"
ANSWER = "The capital of France is Paris."
#: About 25 seconds of speech: time enough to talk over it.
LONG_STORY = " ".join(
    [
        "Once upon a time, in a small village by the sea, there lived an old clockmaker.",
        "Every morning he opened his shop and wound every clock on the walls.",
        "The children of the village came to listen to the ticking and the chimes.",
        "One winter the great clock in the tower stopped, and nobody could fix it.",
        "The clockmaker climbed the stairs with his tools and worked for seven days.",
        "On the last night the bells rang again, and the whole village cheered.",
    ]
)


@pytest.fixture
def talk(
    laptop: VirtualAudio, fake_gemini: FakeGemini, tmp_path: Path, whisper_loaded: None
) -> Iterator[Callable[..., TalkProcess]]:
    """Start ``va talk`` on the virtual laptop (Gemini is the local fake); stopped after."""
    profile = write_profile(tmp_path, long_reply=LONG_STORY)
    started: list[TalkProcess] = []

    def start(*args: str) -> TalkProcess:
        process = TalkProcess(
            laptop,
            "--profile",
            str(profile),
            *args,
            env={"GEMINI_API_KEY": TEST_KEY},
        )
        started.append(process)
        process.wait_until_listening()
        return process

    yield start
    for process in started:
        process.stop()
        # A clean terminal: no library noise reached the user's screen.
        assert not [line for line in process.stderr if "ALSA lib" in line or "Expression '" in line]


def spoken(folder: Path, say: Say, sentence: str) -> Path:
    """A WAV of ``sentence`` (piper, steady), with a short lead-in of silence."""
    return write(folder / f"{abs(hash(sentence))}.wav", timeline(silence(0.2), say(sentence)))


def heard(recording: Path) -> str:
    """What faster-whisper hears in a recording of the speaker."""
    from voice_agent_cli.speech.audio import read_audio
    from voice_agent_cli.speech.stt import default_whisper_path, load_whisper

    model = load_whisper(default_whisper_path())
    segments, _ = model.transcribe(read_audio(recording), language="en", beam_size=5)
    return words(" ".join(segment.text for segment in segments))


def peak(recording: Path) -> float:
    """The loudest sample of a recording (0 for digital silence)."""
    from voice_agent_cli.speech.audio import read_audio

    return float(np.abs(read_audio(recording)).max(initial=0.0))


def test_a_spoken_question_is_answered_aloud(
    talk: Callable[..., TalkProcess],
    laptop: VirtualAudio,
    fake_gemini: FakeGemini,
    say: Say,
    tmp_path: Path,
) -> None:
    fake_gemini.enqueue(text(ANSWER))
    va = talk("--echo", "off")
    with laptop.recording(tmp_path / "speaker.wav") as recording:
        laptop.say(spoken(tmp_path, say, QUESTION))
        # The reply line comes once its audio has played.
        va.wait_for(lambda out, err: bool(va.replies()), "reply")
    assert [words(line[5:]) for line in va.stdout if line.startswith("you: ")] == [words(QUESTION)]
    assert va.replies() == [ANSWER]
    assert {"capital", "paris"} <= set(heard(recording).split())


@pytest.mark.parametrize("echo", ["aec", "half-duplex"])
def test_the_agent_does_not_interrupt_itself_through_the_speaker(
    echo: str,
    talk: Callable[..., TalkProcess],
    laptop: VirtualAudio,
    fake_gemini: FakeGemini,
    say: Say,
    tmp_path: Path,
) -> None:
    laptop.set_echo(True)  # the speaker plays into the microphone: a laptop, no headphones
    reply = f"{ANSWER} It is a big city with many old bridges and parks."
    fake_gemini.enqueue(text(reply))
    va = talk("--echo", echo)
    with laptop.recording(tmp_path / "speaker.wav") as recording:
        laptop.say(spoken(tmp_path, say, QUESTION))
        va.wait_for(lambda out, err: bool(va.replies()), "reply")
        laptop.say(write(tmp_path / "quiet.wav", silence(2.0)))  # time to mishear the echo
    assert va.replies() == [reply], va.transcript()
    assert len([line for line in va.stdout if line.startswith("you: ")]) == 1, va.transcript()
    assert {"paris", "bridges", "parks"} <= set(heard(recording).split())


def test_speaking_over_a_long_reply_cuts_it_and_is_answered(
    talk: Callable[..., TalkProcess],
    laptop: VirtualAudio,
    fake_gemini: FakeGemini,
    say: Say,
    tmp_path: Path,
) -> None:
    # Headphones: the echo tests above cover the agent's voice in its microphone. Through
    # the canceller, long replies sometimes leak back on a busy machine (see docs/voice.md).
    fake_gemini.enqueue(text(ANSWER))
    va = talk("--echo", "off")
    laptop.say(spoken(tmp_path, say, "Tell me a long story."))
    # The story is a pre-buffered reply of ~25 s: it is playing by now.
    laptop.say(write(tmp_path / "listening.wav", silence(5.0)))
    assert not va.replies(), va.transcript()
    laptop.say(spoken(tmp_path, say, QUESTION))
    va.wait_for(lambda out, err: len(va.replies()) >= 2, "answer after the barge-in")
    story, answer = va.replies()[:2]
    assert story.endswith("[interrupted]"), va.transcript()
    assert story.startswith("Once upon a time")
    assert len(story) < len(LONG_STORY)  # only what was heard stays in the history
    assert answer == ANSWER


def test_devices_are_chosen_by_name(
    talk: Callable[..., TalkProcess],
    laptop: VirtualAudio,
    fake_gemini: FakeGemini,
    say: Say,
    tmp_path: Path,
) -> None:
    if "va_headset" not in laptop.modules:
        laptop.add_microphone("va_headset", "Headset Microphone")
        laptop.add_speaker("va_headphones", "Headphones")
    fake_gemini.enqueue(text(ANSWER))
    va = talk("--echo", "off", "--input-device", "Headset", "--output-device", "headphones")
    with (
        laptop.recording(tmp_path / "headphones.wav", source="va_headphones.monitor") as chosen,
        laptop.recording(tmp_path / "speaker.wav") as default,
    ):
        # The default microphone hears another question: va must not listen to it.
        laptop.say(spoken(tmp_path, say, "Tell me a long story."))
        laptop.say(spoken(tmp_path, say, QUESTION), into="va_headset_wire")
        va.wait_for(lambda out, err: bool(va.replies()), "reply")
    assert va.replies() == [ANSWER], va.transcript()
    assert {"capital", "paris"} <= set(heard(chosen).split())
    assert peak(default) < 1e-3  # nothing came out of the default speaker


def test_a_microphone_unplugged_mid_session_is_followed_back(
    talk: Callable[..., TalkProcess],
    laptop: VirtualAudio,
    fake_gemini: FakeGemini,
    say: Say,
    tmp_path: Path,
) -> None:
    fake_gemini.enqueue(text(ANSWER))
    va = talk("--echo", "off")
    laptop.remove_microphone()
    va.wait_for(lambda out, err: any("is gone" in line for line in err), "notice of the loss")
    laptop.restore_microphone()
    va.wait_for(lambda out, err: any("listening again" in line for line in err), "notice")
    # Moved back, the capture stream can stall once and be reopened (a second notice):
    # speak when the microphone has settled, as a user would after the notices.
    va.wait_until_quiet("microphone", quiet_s=STALL_S + 1.0)
    laptop.say(spoken(tmp_path, say, QUESTION))
    va.wait_for(lambda out, err: bool(va.replies()), "reply after the microphone came back")
    assert va.replies() == [ANSWER]
    assert va.process.poll() is None  # still running
    notices = [line for line in va.stderr if "microphone" in line]
    assert notices[0].startswith("va: the microphone 'Microphone' is gone"), notices
    assert va.stop() == 0


def test_the_pulseaudio_devices_are_listed_by_name(laptop: VirtualAudio) -> None:
    listed = run_va_process("talk", "--list-devices", "--json", env=laptop.environment())
    assert listed.returncode == 0, listed.stderr
    devices = json.loads(listed.stdout)
    assert {"pulse", "default"} <= {d["name"] for d in devices if "index" in d}
    pulse = {d["pulse"]: d for d in devices if "pulse" in d}
    assert pulse["va_mic"] == {"pulse": "va_mic", "name": "Microphone", "kind": "input"}
    assert pulse["va_speaker"]["kind"] == "output"
    assert listed.stderr == ""  # nothing from ALSA or PortAudio while they were probed
