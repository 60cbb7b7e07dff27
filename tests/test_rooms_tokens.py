"""LiveKit tokens: minted with least privilege and checked by livekit-api's own verifier."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jwt
import pytest
from livekit import api

from voice_agent_cli.config import load_settings
from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.errors import ConfigError, RoomAuthError, UsageError
from voice_agent_cli.rooms.credentials import normalize_url, resolve_credentials
from voice_agent_cli.rooms.settings import LiveKitSettings
from voice_agent_cli.rooms.tokens import inspect_token, mint_token, verify_token

KEY = "APItestkey123"
SECRET = "s3cr3t-" + "x" * 40  # LiveKit wants 32+ bytes


def test_the_agent_token_has_only_the_grants_it_needs() -> None:
    token = mint_token(
        KEY, SECRET, room="demo", identity="va-agent", name="va", ttl_s=600, agent=True
    )
    claims = api.TokenVerifier(KEY, SECRET).verify(token)
    video = claims.video
    assert video is not None
    assert (claims.identity, claims.name, claims.kind) == ("va-agent", "va", "agent")
    assert video.room_join and video.room == "demo"
    assert video.can_publish and video.can_subscribe and video.can_publish_data
    assert video.can_publish_sources == ["microphone"]
    # Nothing administrative: no room creation, listing, recording or admin rights.
    assert not any([video.room_create, video.room_list, video.room_record, video.room_admin])
    assert not video.hidden and not video.agent
    payload = jwt.decode(token, options={"verify_signature": False})
    assert 595 <= payload["exp"] - payload["nbf"] <= 600


def test_a_participant_token_is_for_one_room_and_can_talk() -> None:
    token = mint_token(KEY, SECRET, room="demo", identity="alice", ttl_s=3600)
    info = verify_token(token, KEY, SECRET, room="demo")
    assert (info.identity, info.name, info.room, info.kind) == ("alice", "alice", "demo", "")
    assert info.grants["can_publish"] and info.grants["can_subscribe"]
    assert 3590 < info.seconds_left <= 3600
    assert info.verified
    described = info.as_json()
    assert described["kind"] == "standard" and described["ttl_s"] in range(3590, 3601)
    assert token not in str(described)


def test_a_token_for_another_room_is_refused() -> None:
    token = mint_token(KEY, SECRET, room="demo", identity="alice", ttl_s=60)
    with pytest.raises(RoomAuthError, match="is for room 'demo', not 'other'"):
        verify_token(token, KEY, SECRET, room="other")


def test_an_expired_token_is_refused() -> None:
    token = (
        api.AccessToken(KEY, SECRET)
        .with_identity("alice")
        .with_grants(api.VideoGrants(room_join=True, room="demo"))
        .with_ttl(dt.timedelta(seconds=-120))
        .to_jwt()
    )
    with pytest.raises(RoomAuthError, match=r"the token expired at .* UTC \(2 min ago\)"):
        verify_token(token, KEY, SECRET)
    # Without the secret too: the expiry is checked before any connection.
    with pytest.raises(RoomAuthError, match="expired"):
        inspect_token(token)


def test_a_wrong_secret_or_key_is_refused() -> None:
    token = mint_token(KEY, SECRET, room="demo", identity="alice", ttl_s=60)
    with pytest.raises(RoomAuthError, match="signature does not match"):
        verify_token(token, KEY, "another-secret-" + "y" * 32)
    with pytest.raises(RoomAuthError, match="another API key"):
        verify_token(token, "APIother", SECRET)


def test_garbage_is_not_a_token() -> None:
    for text in ("hello", "a.b.c", ""):
        with pytest.raises(RoomAuthError, match="not a LiveKit access token"):
            verify_token(text, KEY, SECRET)
        with pytest.raises(RoomAuthError, match="not a LiveKit access token"):
            inspect_token(text)


def test_a_token_without_a_room_join_grant_is_refused() -> None:
    token = api.AccessToken(KEY, SECRET).with_identity("x").to_jwt()
    with pytest.raises(RoomAuthError, match="does not allow joining"):
        verify_token(token, KEY, SECRET)


def test_inspect_reads_a_token_without_its_secret() -> None:
    token = mint_token(KEY, SECRET, room="demo", identity="va-agent", ttl_s=600, agent=True)
    info = inspect_token(token, room="demo")
    assert (info.identity, info.room, info.kind, info.verified) == (
        "va-agent",
        "demo",
        "agent",
        False,
    )


def test_minting_needs_a_room_and_an_identity() -> None:
    with pytest.raises(ConfigError, match="room name"):
        mint_token(KEY, SECRET, room=" ", identity="a", ttl_s=60)
    with pytest.raises(ConfigError, match="identity"):
        mint_token(KEY, SECRET, room="demo", identity="", ttl_s=60)


# -- credentials -----------------------------------------------------------------------------


def test_credentials_come_from_flags_then_environment_then_profile() -> None:
    settings = LiveKitSettings(url="ws://profile:7880")
    environ = {
        "LIVEKIT_URL": "wss://env.example.com",
        "LIVEKIT_API_KEY": "envkey",
        "LIVEKIT_API_SECRET": SECRET,
    }
    creds = resolve_credentials(settings, environ=environ)
    assert (creds.url, creds.api_key) == ("wss://env.example.com", "envkey")
    assert isinstance(creds.api_secret, Secret) and creds.api_secret.value == SECRET
    assert SECRET not in repr(creds) and SECRET not in str(creds.api_secret)
    flagged = resolve_credentials(
        settings, url="https://flag:443", api_key="flagkey", environ=environ
    )
    assert (flagged.url, flagged.api_key) == ("wss://flag:443", "flagkey")
    assert resolve_credentials(settings, environ={}).url == "ws://profile:7880"


def test_missing_credentials_say_what_to_set() -> None:
    creds = resolve_credentials(LiveKitSettings(), environ={"LIVEKIT_API_KEY": "k"})
    with pytest.raises(ConfigError, match="LIVEKIT_URL"):
        creds.require_url()
    with pytest.raises(ConfigError, match=r"^LIVEKIT_API_SECRET must be set"):
        creds.require_keys()
    custom = LiveKitSettings(api_secret_env="MY_SECRET")
    with pytest.raises(ConfigError, match="MY_SECRET"):
        resolve_credentials(custom, environ={"LIVEKIT_API_SECRET": SECRET}).require_keys()


@pytest.mark.parametrize("url", ["localhost:7880", "ftp://host", "ws://", "ws://host:port"])
def test_a_url_that_is_not_a_livekit_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="not a LiveKit server URL"):
        normalize_url(url)


def test_the_dev_server_short_secret_works_without_warnings() -> None:
    # `livekit-server --dev` signs with devkey / secret; PyJWT warns on keys under 32
    # bytes, which pytest turns into errors here: there must be none.
    token = mint_token("devkey", "secret", room="demo", identity="alice", ttl_s=60)
    assert verify_token(token, "devkey", "secret", room="demo").identity == "alice"


# -- the [livekit] profile section --------------------------------------------------------------


def test_the_livekit_section_follows_the_usual_precedence(tmp_path: Path) -> None:
    profile = tmp_path / "room.toml"
    profile.write_text('[livekit]\nanswer = "addressed"\nidentity = "bot"\n', encoding="utf-8")
    settings = load_settings(str(profile), environ={"VA_LIVEKIT__IDENTITY": "env-bot"})
    assert (settings.profile.livekit.answer, settings.profile.livekit.identity) == (
        "addressed",
        "env-bot",
    )
    flagged = load_settings(str(profile), {"livekit.answer": "everyone"}, environ={})
    assert flagged.profile.livekit.answer == "everyone"


def test_the_livekit_section_is_validated(tmp_path: Path) -> None:
    profile = tmp_path / "room.toml"
    profile.write_text("[livekit]\napi_secret = 'no'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"room.toml: unknown key 'livekit.api_secret'"):
        load_settings(str(profile), environ={})
    profile.write_text("[livekit]\nanswer = 'participant'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="needs participant"):
        load_settings(str(profile), environ={})
