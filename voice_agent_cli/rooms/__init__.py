"""The agent as a participant of a LiveKit room (``va join``), one module per job::

    credentials ─► tokens ─► connection (timeout, backoff) ─► session
                                                               │
          participants ◄── room events ──────────────────────────┤
          voices: one VoiceSession per speaking participant ◄── audio_in
          agent track (TTS out, barge-in) ──► audio_out
          transcripts (data channel JSON + LiveKit transcriptions) ──► room

The livekit SDKs are imported only inside the functions that need them
(:mod:`.sdk` is the boundary where their types and exceptions are met), so
importing this package costs nothing; ``va --help`` stays instant.
"""
