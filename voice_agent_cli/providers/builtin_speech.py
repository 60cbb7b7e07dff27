"""va's own speech providers: faster-whisper and openai-whisper for STT, piper for TTS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from voice_agent_cli.providers.base import ModelList, SpeechContext, STTProvider, TTSProvider
from voice_agent_cli.speech.stt import FasterWhisperSTT, OpenAIWhisperSTT
from voice_agent_cli.speech.tts import PiperTTS

if TYPE_CHECKING:
    from voice_agent_cli.speech.settings import STTSettings, TTSSettings
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech


class FasterWhisperProvider(STTProvider):
    """Whisper on CTranslate2: the bundled tiny.en, or any converted model directory."""

    description = "Whisper on CTranslate2 (bundled tiny.en)"

    def build(self, context: SpeechContext) -> SpeechToText:
        stt = context.settings
        return FasterWhisperSTT(
            stt.model_path,
            language=stt.language,
            beam_size=stt.beam_size,
            compute_type=stt.compute_type,
            cpu_threads=stt.cpu_threads or 0,
            vad_filter=stt.vad_filter,
            temperature_fallback=stt.temperature_fallback,
            hotwords=stt.hotwords,
            context=stt.context,
        )

    def models(self, settings: STTSettings) -> ModelList:
        if settings.model_path is not None:
            return ModelList([str(settings.model_path)], "profile")
        return ModelList(["tiny.en"], "bundled")


class OpenAIWhisperProvider(STTProvider):
    """OpenAI's reference Whisper (PyTorch), from weights already on disk."""

    description = "OpenAI's reference Whisper (PyTorch; weights must exist)"

    def build(self, context: SpeechContext) -> SpeechToText:
        stt = context.settings
        return OpenAIWhisperSTT(
            stt.model_path or stt.model, language=stt.language, beam_size=stt.beam_size
        )

    def models(self, settings: STTSettings) -> ModelList:
        return ModelList([str(settings.model_path or settings.model)], "profile")


class PiperProvider(TTSProvider):
    """Piper voices (ONNX): the bundled en_US joe, or any .onnx voice."""

    description = "piper voices (bundled en_US joe)"

    def build(self, context: SpeechContext) -> TextToSpeech:
        tts = context.settings
        return PiperTTS(
            tts.voice, config=tts.voice_config, speed=tts.speed, cache_size=tts.cache_size
        )

    def models(self, settings: TTSSettings) -> ModelList:
        if settings.voice is not None:
            return ModelList([str(settings.voice)], "profile")
        return ModelList(["en_US-joe-medium"], "bundled")
