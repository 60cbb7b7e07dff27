"""Speech in and out: audio I/O, voice activity, speech to text, text to speech, the voice loop.

Each module has one job (see docs/voice.md)::

    source ─► echo ─► endpointing (VAD) ─► STT ─► agent turn ─► sentences ─► TTS ─► sink

onnxruntime, faster-whisper, piper, sounddevice and livekit are imported
inside the functions that need them, numpy at the top of the modules that
handle samples: ``va --help`` loads none of them.
"""
