"""Profile sections of the voice loop: ``[voice]``, ``[vad]``, ``[stt]``, ``[tts]``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from voice_agent_cli.providers.registry import checked
from voice_agent_cli.section import Section
from voice_agent_cli.speech.interruption import BACKCHANNEL_WORDS


class VoiceSettings(Section):
    """The voice loop of ``va talk`` (and ``va join``): devices, echo, barge-in."""

    input_device: str | None = Field(None, description="microphone: index or part of its name")
    output_device: str | None = Field(None, description="speaker: index or part of its name")
    echo: Literal["aec", "half-duplex", "off"] = Field(
        "aec",
        description="aec: cancel the agent's voice from the mic (WebRTC); half-duplex: "
        "ignore the mic while the agent speaks (no barge-in); off: headphones",
    )
    barge_in: bool = Field(True, description="the user speaking over the agent stops it")
    resume_false_interruption: bool = Field(
        True,
        description="hold the reply at the user's first sound and play on after an "
        "'uh-huh', a cough or a click; false: any speech cuts the reply",
    )
    min_interruption_ms: int = Field(
        500, ge=0, le=5000, description="speech over the reply at least this long cuts it"
    )
    min_interruption_words: int = Field(
        1, ge=1, le=20, description="shorter speech cuts with this many non-backchannel words"
    )
    backchannel_words: list[str] = Field(
        default_factory=lambda: list(BACKCHANNEL_WORDS),
        description="what listeners say that is no interruption ('yeah', 'uh-huh', ...)",
    )
    false_interruption_timeout_ms: int = Field(
        2000, ge=100, le=10000, description="longest hold without a verdict, then play on"
    )
    frame_ms: Literal[10, 20] = 20
    speculative_stt: bool = Field(
        True,
        description="transcribe during the end-of-turn silence, and start a complete "
        "question's reply then (heard only once the turn has ended)",
    )
    first_clause_words: int = Field(
        4,
        ge=0,
        le=50,
        description="speak a streamed reply's first clause (up to a comma, or this many "
        "words) without waiting for its first sentence; 0: whole sentences",
    )
    xrun_warning: int = Field(
        5, ge=1, description="audio dropouts within a minute above which va warns (once)"
    )


class VADSettings(Section):
    """Voice activity detection (Silero) and end of turn."""

    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="speech probability threshold")
    end_of_turn_silence_ms: int = Field(400, ge=100, le=5000, description="silence ending a turn")
    unfinished_silence_ms: int = Field(
        900, ge=100, le=5000, description="silence ending a turn whose words trail off"
    )
    complete_silence_ms: int = Field(
        250, ge=0, le=5000, description="silence ending a turn whose words are a whole sentence"
    )
    semantic_end_of_turn: bool = Field(
        True,
        description="a language model judges whether the words so far end a sentence "
        "('What is the capital of' does not): wait unfinished_silence_ms if not",
    )
    end_of_turn_model: str = Field(
        "qwen2.5-coder-0.5b",
        description="the GGUF that scores the end of a sentence (a model name or a path)",
    )
    unfinished_below: float = Field(
        0.01, gt=0.0, lt=1.0, description="below this P(sentence ends here), the words trail off"
    )
    min_speech_ms: int = Field(200, ge=0, le=5000, description="shorter speech is not a turn")
    start_ms: int = Field(64, ge=32, le=1000, description="speech that starts a turn/barge-in")
    pre_roll_ms: int = Field(300, ge=0, le=2000)
    max_turn_s: float = Field(30.0, gt=1.0, le=300.0)


class STTSettings(Section):
    """Speech to text."""

    engine: str = Field(
        "faster-whisper",
        description="faster-whisper, openai-whisper, or an installed plugin's (va providers)",
    )
    model_path: Path | None = Field(
        None,
        description="faster-whisper: a CTranslate2 model dir (default: the bundled tiny.en); "
        "openai-whisper: a .pt file",
    )
    model: str = Field("tiny.en", description="openai-whisper model name (weights must exist)")
    language: str | None = Field("en", description="None: detect (multilingual models only)")
    beam_size: int = Field(5, ge=1, le=20)
    compute_type: str = Field("int8", description="CTranslate2 compute type on the CPU")
    cpu_threads: int | None = Field(None, ge=1, description="default: CTranslate2's choice")
    vad_filter: bool = Field(
        True, description="faster-whisper's own VAD pass (stops 'you' on noise)"
    )
    temperature_fallback: bool = Field(
        False,
        description="faster-whisper: decode a doubtful utterance again at higher temperatures "
        "(Whisper's default; on short turns it only adds latency and randomness)",
    )
    hotwords: list[str] = Field(
        default_factory=list,
        description="faster-whisper: names and terms to listen for ('Siobhan', 'Kubernetes')",
    )
    context: bool = Field(
        True,
        description="faster-whisper: prompt Whisper with the agent's last words",
    )

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        return checked("stt", value)


class TTSSettings(Section):
    """Text to speech (piper)."""

    engine: str = Field("piper", description="piper, or an installed plugin's (va providers)")
    voice: Path | None = Field(None, description="a piper .onnx voice (default: en_US joe)")
    voice_config: Path | None = Field(None, description="its .onnx.json (default: beside it)")
    speed: float = Field(1.0, ge=0.5, le=2.0)
    cache_size: int = Field(128, ge=0, le=10000, description="short sentences kept synthesised")

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        return checked("tts", value)
