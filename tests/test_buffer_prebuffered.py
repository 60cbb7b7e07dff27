"""Pre-buffered replies: exact phrases, patterns, templates, the profile and `va cache add`."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import pytest

from tests.buffer_helpers import FakeClock, turn
from voice_agent_cli.buffer import ResponseBuffer, normalize
from voice_agent_cli.buffer.build import profile_entries
from voice_agent_cli.buffer.custom import CustomResponses
from voice_agent_cli.buffer.prebuffered import PrebufferedEntry, PrebufferedResponses
from voice_agent_cli.config import load_settings
from voice_agent_cli.errors import ConfigError, UsageError

NOON = datetime(2026, 3, 14, 12, 5)


def fixed_now() -> datetime:
    return NOON


def responses(*entries: PrebufferedEntry) -> PrebufferedResponses:
    return PrebufferedResponses(entries)


def reply(table: PrebufferedResponses, said: str) -> str | None:
    return table.reply_for(normalize(said), fixed_now)


def test_an_exact_phrase_matches_however_it_is_said() -> None:
    table = responses(PrebufferedEntry.build(phrases=["Hello", "hi there"], reply="Hi!"))
    assert reply(table, "Hello!") == "Hi!"
    assert reply(table, "  um, HELLO ") == "Hi!"
    assert reply(table, "Hi there.") == "Hi!"
    assert reply(table, "hello, book me a flight") is None


def test_a_pattern_must_match_the_whole_utterance() -> None:
    table = responses(PrebufferedEntry.build(pattern="(what can you do|help)", reply="Lots."))
    assert reply(table, "What can you do?") == "Lots."
    assert reply(table, "Help!") == "Lots."
    assert reply(table, "help me write a letter to my bank") is None


def test_templates_fill_in_the_clock_and_the_groups() -> None:
    table = responses(
        PrebufferedEntry.build(pattern="what time is it", reply="It's {time} ({time24})."),
        PrebufferedEntry.build(pattern="what is the date", reply="{weekday}, {date}; {year}"),
        PrebufferedEntry.build(
            pattern=r"my name is (?P<name>\w+)", reply="Nice to meet you, {name}."
        ),
        PrebufferedEntry.build(pattern=r"say (\w+) twice", reply="{1} {1}"),
        PrebufferedEntry.build(phrases=["braces"], reply="{{literal}}"),
    )
    assert reply(table, "What time is it?") == "It's 12:05 PM (12:05)."
    assert reply(table, "What's the date?") == "Saturday, March 14, 2026; 2026"
    assert reply(table, "My name is Ada.") == "Nice to meet you, ada."
    assert reply(table, "Say cheese twice") == "cheese cheese"
    assert reply(table, "braces") == "{literal}"


def test_the_first_entry_wins() -> None:
    table = responses(
        PrebufferedEntry.build(phrases=["hello"], reply="first"),
        PrebufferedEntry.build(phrases=["hello"], reply="second"),
        PrebufferedEntry.build(pattern="hel+o", reply="pattern"),
    )
    assert reply(table, "hello") == "first"
    assert reply(table, "helllo") == "pattern"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"phrases": ["hi"], "pattern": "hi", "reply": "x"}, "not both"),
        ({"reply": "x"}, "either"),
        ({"pattern": "(", "reply": "x"}, "not a valid regular expression"),
        ({"phrases": ["hi"], "reply": "It is {tiem}"}, "unknown field {tiem}"),
        ({"pattern": "a(b)", "reply": "{2}"}, "unknown field {2}"),
        ({"phrases": ["hi"], "reply": "{time:%H}"}, "plain {name} fields"),
    ],
)
def test_bad_entries_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("(", r"\(")):
        PrebufferedEntry.build(**kwargs)  # type: ignore[arg-type]


def test_a_bad_profile_entry_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_text('[[buffer.responses]]\npattern = "("\nreply = "x"\n')
    with pytest.raises(ConfigError, match=r"mine\.toml.*buffer\.responses\.0"):
        load_settings(str(profile))


def test_the_default_profile_answers_the_usual_small_talk() -> None:
    table = PrebufferedResponses(profile_entries(load_settings("default").profile.buffer))
    assert reply(table, "Hello!") == "Hello! How can I help you?"
    assert reply(table, "Thank you very much.") == "You're welcome!"
    assert "answer questions" in (reply(table, "What can you do?") or "")
    assert reply(table, "Um, what's the time?") == "It's 12:05 PM."
    assert reply(table, "What day is it today?") == "Today is Saturday, March 14, 2026."
    assert reply(table, "What is the capital of France?") is None


def test_every_shipped_profile_loads_with_its_buffer_settings() -> None:
    from voice_agent_cli.config import shipped_profiles

    for name in shipped_profiles():
        settings = load_settings(name)
        profile_entries(settings.profile.buffer)  # compiles
        assert settings.profile.cache.max_entries >= 1


# -- custom replies (va cache add) ------------------------------------------------------


def test_custom_replies_persist_and_replace_the_same_trigger(isolated_env: Path) -> None:
    custom = CustomResponses()
    custom.add("What's your name?", "I'm va.")
    custom.add("what is your name", "Call me va.")  # the same phrase, normalised
    custom.add(r"how old is (\w+)", "No idea how old {1} is.", regex=True)
    assert custom.path == isolated_env / "buffer" / "custom.json"
    table = PrebufferedResponses(CustomResponses().load())
    assert reply(table, "What is your name?") == "Call me va."
    assert reply(table, "How old is Bob?") == "No idea how old bob is."
    assert len(table) == 2


def test_custom_replies_can_be_removed_and_cleared() -> None:
    custom = CustomResponses()
    custom.add("ping", "pong")
    custom.add("marco", "polo")
    assert custom.remove("PING!") == 1
    assert custom.remove("ping") == 0
    assert custom.clear() == 1
    assert custom.load() == []


def test_a_bad_custom_reply_is_refused_before_it_is_saved() -> None:
    custom = CustomResponses()
    with pytest.raises(UsageError, match="regular expression"):
        custom.add("(", "x", regex=True)
    assert not custom.path.exists()


def test_a_damaged_custom_file_is_ignored_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    custom = CustomResponses()
    custom.path.parent.mkdir(parents=True)
    custom.path.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="va.buffer"):
        assert custom.load() == []
        assert custom.load() == []
    warnings = [r for r in caplog.records if r.name == "va.buffer"]
    assert len(warnings) == 1
    assert "damaged custom replies file" in warnings[0].getMessage()


async def test_a_running_buffer_picks_up_replies_added_meanwhile() -> None:
    monotonic = FakeClock(0.0)
    buffer = ResponseBuffer(custom=CustomResponses(), monotonic=monotonic)
    assert await buffer.lookup(turn("ping")) is None
    CustomResponses().add("ping", "pong")  # another process: `va cache add ping pong`
    monotonic.advance(2.0)  # the file is checked at most once a second
    hit = await buffer.lookup(turn("Ping?"))
    assert hit is not None and (hit.reply, hit.layer) == ("pong", "prebuffered")


async def test_custom_replies_come_before_the_profile_ones() -> None:
    CustomResponses().add("hello", "Howdy!")
    settings = load_settings("default")
    buffer = ResponseBuffer(
        prebuffered=profile_entries(settings.profile.buffer), custom=CustomResponses()
    )
    hit = await buffer.lookup(turn("Hello!"))
    assert hit is not None and hit.reply == "Howdy!"


def test_the_custom_file_is_plain_json() -> None:
    custom = CustomResponses()
    custom.add("ping", "pong")
    data = json.loads(custom.path.read_text())
    assert data == {"version": 1, "responses": [{"phrases": ["ping"], "reply": "pong"}]}
