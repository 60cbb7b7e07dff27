"""The ``[livekit]`` profile section: which server, who the agent is, whom it answers.

Every key has a flag or an environment variable, with the usual precedence
(flag > ``VA_*`` > profile > default)::

    [livekit]
    url = "ws://localhost:7880"   # --url; $LIVEKIT_URL wins over the profile
    identity = "va-agent"         # --identity
    name = "va"                   # --name: what people see
    answer = "addressed"          # everyone | participant | addressed (--answer)
    names = ["va", "vee ay"]      # how people address the agent ("hey va, ...")
    connect_timeout_s = 5

The API key and secret are never in a profile: they come from the environment
variables the section names (``api_key_env``, ``api_secret_env``).

This module is imported by :mod:`voice_agent_cli.config`, so it imports
neither the livekit SDK nor the config module (which would be circular).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from voice_agent_cli.section import Section

#: Whom the agent answers: every speaker, one named participant, or whoever says its name.
AnswerPolicyName = Literal["everyone", "participant", "addressed"]
#: Who may cut the agent's reply by speaking: anyone it listens to, or only the one it answers.
BargeInScope = Literal["anyone", "addressee", "off"]


class LiveKitSettings(Section):
    """The agent in a LiveKit room: server, identity, tokens, connection and turn taking."""

    url: str | None = Field(None, description="server URL (ws:// or wss://); $LIVEKIT_URL wins")
    api_key_env: str = Field("LIVEKIT_API_KEY", description="variable holding the API key")
    api_secret_env: str = Field("LIVEKIT_API_SECRET", description="variable holding the API secret")
    identity: str = Field("va-agent", min_length=1, max_length=128)
    name: str = Field("va", min_length=1, max_length=128, description="the agent's display name")
    token_ttl_s: int = Field(
        600, ge=60, le=86400, description="lifetime of the agent's own tokens (minted per connect)"
    )
    participant_token_ttl_s: int = Field(
        3600, ge=60, le=7 * 86400, description="default lifetime of `va token`'s tokens"
    )
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="one connection attempt")
    reconnect: bool = Field(True, description="reconnect when the connection drops")
    reconnect_base_s: float = Field(0.5, gt=0, le=60, description="first backoff delay")
    reconnect_max_s: float = Field(15.0, gt=0, le=600, description="backoff cap")
    reconnect_jitter: float = Field(0.5, ge=0, le=1, description="random part of each delay")
    reconnect_attempts: int = Field(
        10, ge=0, le=10000, description="attempts after a drop before giving up (0: never try)"
    )
    answer: AnswerPolicyName = Field("everyone", description="everyone, participant or addressed")
    participant: str | None = Field(None, description="answer=participant: whose identity")
    names: list[str] = Field(
        default_factory=lambda: ["va", "vah", "vee ay", "v a"],
        description="answer=addressed: words that address the agent, besides its display "
        "name (Whisper hears 'va' several ways: a distinct name such as 'nova' is safer)",
    )
    barge_in: BargeInScope = Field(
        "anyone", description="who cuts the agent's reply by speaking: anyone, addressee or off"
    )
    sample_rate: Literal[24000, 48000] = Field(48000, description="the agent's audio track")
    transcript_topic: str = Field(
        "va.transcript", min_length=1, description="data-channel topic of the JSON transcripts"
    )
    transcription_events: bool = Field(
        True, description="also publish LiveKit transcriptions (what browser clients show)"
    )
    max_pipelines: int = Field(
        8, ge=1, le=200, description="participants transcribed at once (each runs VAD + STT)"
    )

    @field_validator("names")
    @classmethod
    def _names_are_words(cls, names: list[str]) -> list[str]:
        cleaned = [" ".join(name.lower().split()) for name in names]
        if any(not name for name in cleaned):
            raise ValueError("names must not be empty")
        return cleaned

    @model_validator(mode="after")
    def _participant_named(self) -> LiveKitSettings:
        if self.answer == "participant" and not self.participant:
            raise ValueError("answer = 'participant' needs participant = '<identity>'")
        return self
