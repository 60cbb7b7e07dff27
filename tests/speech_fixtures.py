"""Speech for the speech tests: models loaded once per session, and utterances to hear.

``say("text")`` is 16 kHz mono speech from the project's own TTS (piper, the
joe voice), cached per session; ``espeak("text")`` a second, robotic voice.
``noise`` and ``silence`` come from numpy. The model fixtures only warm the
process-wide caches of :mod:`voice_agent_cli.speech.stt` / ``tts``, so the
engines a test builds itself (or ``va talk`` run in-process) load instantly.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import Samples


@pytest.fixture(scope="session")
def whisper_loaded() -> None:
    """faster-whisper tiny.en in the process cache."""
    from voice_agent_cli.speech.stt import default_whisper_path, load_whisper

    load_whisper(default_whisper_path())


@pytest.fixture(scope="session")
def voice_loaded() -> None:
    """The piper voice in the process cache."""
    from voice_agent_cli.speech.tts import default_voice, load_voice

    load_voice(*default_voice())


@pytest.fixture(scope="session")
def say(voice_loaded: None) -> Callable[[str], Samples]:
    """Speech for ``text`` at 16 kHz, synthesised once per session."""
    import numpy as np
    from piper import SynthesisConfig

    from voice_agent_cli.speech.audio import resample
    from voice_agent_cli.speech.tts import default_voice, load_voice

    voice = load_voice(*default_voice())
    steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    cache: dict[str, Samples] = {}

    def speak(text: str) -> Samples:
        if text not in cache:
            # Without piper's random variation: the same words always sound the same,
            # so what Whisper hears does not change from one run to the next.
            chunks = [c.audio_float_array for c in voice.synthesize(text, steady)]
            audio = np.concatenate(chunks).astype(np.float32)
            cache[text] = resample(audio, voice.config.sample_rate, 16000)
        return cache[text]

    return speak


@pytest.fixture(scope="session")
def espeak(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Samples]:
    """A second voice: espeak-ng, robotic but independent of piper."""
    from voice_agent_cli.speech.audio import read_audio

    folder = tmp_path_factory.mktemp("espeak")

    def speak(text: str) -> Samples:
        path = folder / f"{abs(hash(text))}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(path), text],
            check=True,
            capture_output=True,
        )
        return read_audio(path)

    return speak


def silence(seconds: float) -> Samples:
    """Digital silence at 16 kHz."""
    import numpy as np

    return np.zeros(int(seconds * 16000), dtype=np.float32)


def noise(seconds: float, level: float = 0.1, seed: int = 0) -> Samples:
    """White noise at 16 kHz."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * 16000)) * level).astype(np.float32)


def tone(seconds: float, frequency: float = 440.0, level: float = 0.3) -> Samples:
    """A sine tone (a hum, a beep) at 16 kHz."""
    import numpy as np

    t = np.arange(int(seconds * 16000)) / 16000
    return (np.sin(2 * np.pi * frequency * t) * level).astype(np.float32)


def timeline(*parts: Samples) -> Samples:
    """Parts one after the other."""
    import numpy as np

    return np.concatenate(parts).astype(np.float32)


def write(path: Path, samples: Samples, rate: int = 16000) -> Path:
    """A 16-bit WAV file of ``samples``."""
    from voice_agent_cli.speech.audio import write_wav

    write_wav(path, samples, rate)
    return path


def words(text: str) -> str:
    """Text normalised for WER: lower case, no punctuation, numbers as Whisper writes them."""
    import re

    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())
