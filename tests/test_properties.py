"""Property-based tests: whatever comes in, the parsers raise nothing but va's own errors.

Issue 12 asks that arbitrary text, bytes, WAV headers, profile values and MCP
results fed into the places that parse them raise only
:class:`~voice_agent_cli.errors.VAError` subclasses (or, where the parser's
contract says so, answer with a value: a cache entry that does not parse is a
miss). hypothesis makes the inputs; each test names its parser.
"""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice_agent_cli.buffer.disk import DiskReplyStore
from voice_agent_cli.buffer.normalize import normalize
from voice_agent_cli.buffer.policy import CachePolicy
from voice_agent_cli.cli.tools import parse_arguments
from voice_agent_cli.config import load_settings
from voice_agent_cli.contracts.turns import TurnContext
from voice_agent_cli.errors import AudioError, ConfigError, RoomError, UsageError, VAError
from voice_agent_cli.masking import mask_args, mask_text, mask_url
from voice_agent_cli.observe.redaction import redact
from voice_agent_cli.rooms.tokens import inspect_token
from voice_agent_cli.speech.audio import read_audio
from voice_agent_cli.tools.calculator import CalculatorError, evaluate
from voice_agent_cli.tools.names import QualifiedName
from voice_agent_cli.tools.results import describe_failure, to_tool_result
from voice_agent_cli.tools.schema import clean_schema
from voice_agent_cli.tools.server import build_server
from voice_agent_cli.tools.stdio_server import ArgumentError, check_arguments

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(ANY_TEXT, inner, max_size=5),
    max_leaves=30,
)
FIXTURES_OK = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=80
)


# -- text ----------------------------------------------------------------------------


@given(ANY_TEXT)
def test_text_parsers_take_any_text(text: str) -> None:
    normalize(text)
    redact(text)
    mask_text(text)
    mask_url(text)
    mask_args([text, "--token", text])
    context = TurnContext(text=text, llm="x", system_prompt="s", history=())
    CachePolicy().key(context, normalize(text))
    for parser in (parse_arguments, QualifiedName.parse):
        with contextlib.suppress(UsageError):
            parser(text)


@given(ANY_TEXT)
def test_the_calculator_refuses_with_its_own_error(text: str) -> None:
    with contextlib.suppress(CalculatorError):
        evaluate(text)


@given(ANY_TEXT)
def test_a_livekit_token_that_is_not_one_is_a_room_error(text: str) -> None:
    with contextlib.suppress(RoomError):
        inspect_token(text)


@given(st.binary(max_size=400) | ANY_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_a_stored_cache_entry_that_is_not_one_is_a_miss(raw: bytes) -> None:
    assert DiskReplyStore._parse(raw) is None or DiskReplyStore._parse(raw) is not None
    DiskReplyStore._parse(raw.decode("utf-8", "replace"))


@given(JSON)
def test_json_that_is_not_a_cache_entry_is_a_miss(value: Any) -> None:
    assert DiskReplyStore._parse(json.dumps(value)) is None


# -- audio ---------------------------------------------------------------------------


def _wav(channels: int, rate: int, bits: int, fmt: int, declared: int, data: bytes) -> bytes:
    block = channels * max(1, bits // 8)
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, fmt, channels, rate,
        (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits, b"data", declared,
    )  # fmt: skip
    return header + data


WAV_HEADERS = st.builds(
    _wav,
    channels=st.integers(0, 70000 & 0xFFFF),
    rate=st.integers(0, 2**32 - 1),
    bits=st.sampled_from([0, 1, 8, 16, 24, 32, 64, 7]),
    fmt=st.sampled_from([0, 1, 3, 6, 7, 0xFFFE, 0x55]),
    declared=st.integers(0, 2**32 - 1),
    data=st.binary(max_size=256),
)


@FIXTURES_OK
@given(content=WAV_HEADERS | st.binary(max_size=300))
def test_any_wav_header_or_bytes_is_read_or_refused_as_bad_audio(
    content: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "input.wav"
    path.write_bytes(content)
    try:
        samples = read_audio(path)
    except AudioError:
        return
    assert len(samples) > 0


# -- profiles ------------------------------------------------------------------------

SECTIONS = {
    "llm": ["provider", "temperature", "max_output_tokens", "request_timeout_s", "turn_timeout_s"],
    "cache": ["backend", "max_entries", "ttl_s", "uncacheable_patterns", "redis_url"],
    "mcp": ["filler_after_ms", "restart_backoff_s", "servers"],
    "vad": ["end_of_turn_silence_ms", "min_speech_ms"],
    "privacy": ["store_text"],
    "rate_limits": ["per_user", "expert_consultations"],
    "bench": ["budgets"],
    "nonsense": ["x"],
}
TOML_SCALARS = (
    st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.text(max_size=40).map(json.dumps)
)
TOML_VALUES = TOML_SCALARS.map(str).map(lambda v: v.lower() if v in ("True", "False") else v) | (
    st.lists(TOML_SCALARS.map(str), max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
)


@st.composite
def profiles(draw: st.DrawFn) -> str:
    lines = []
    for section in draw(st.lists(st.sampled_from(sorted(SECTIONS)), unique=True, max_size=4)):
        lines.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(SECTIONS[section]), unique=True, max_size=3)):
            lines.append(f"{key} = {draw(TOML_VALUES)}")
    return "\n".join(lines) + "\n"


@FIXTURES_OK
@given(text=profiles() | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_profile_loads_or_is_a_config_error(text: str, tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    with contextlib.suppress(ConfigError):
        load_settings(str(path), environ={})


ENV_NAMES = [
    "VA_LLM__TEMPERATURE",
    "VA_CACHE__MAX_ENTRIES",
    "VA_LLM",
    "VA_PRIVACY__STORE_TEXT",
    "VA_MCP__SERVERS",
    "VA_NOPE__X",
]


@FIXTURES_OK
@given(st.sampled_from(ENV_NAMES), ANY_TEXT)
def test_any_environment_value_loads_or_is_a_config_error(name: str, value: str) -> None:
    with contextlib.suppress(ConfigError):
        load_settings("default", environ={name: value})


# -- MCP results, schemas and requests -----------------------------------------------

BLOCK = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "audio", "resource", "resource_link", "weird"])},
    optional={"text": ANY_TEXT, "data": ANY_TEXT, "mime_type": ANY_TEXT | st.none(),
              "uri": ANY_TEXT, "name": ANY_TEXT},
)  # fmt: skip


def _as_object(block: dict[str, Any]) -> SimpleNamespace:
    if block["type"] == "resource":
        block = {**block, "resource": SimpleNamespace(text=block.get("text"), uri="x://y")}
    if block["type"] == "resource_link":
        block = {"uri": "x://y", **block}
    if block["type"] == "text":
        block = {"text": "", **block}
    return SimpleNamespace(**block)


@given(st.lists(BLOCK, max_size=5), JSON, st.booleans())
def test_any_mcp_result_becomes_a_tool_result(
    blocks: list[dict[str, Any]], structured: Any, is_error: bool
) -> None:
    result = SimpleNamespace(
        content=[_as_object(block) for block in blocks],
        structured_content=structured,
        is_error=is_error,
    )
    converted = to_tool_result(result)
    assert isinstance(converted.text, str)
    assert converted.is_error == is_error


@given(JSON)
def test_any_tool_schema_is_cleaned_into_an_object_schema(schema: Any) -> None:
    cleaned = clean_schema(schema)
    assert cleaned.get("type") == "object"


@given(st.sampled_from([ValueError, RuntimeError, OSError, TimeoutError, KeyError]), ANY_TEXT)
def test_any_failure_from_a_server_is_described_in_one_line(
    kind: type[Exception], text: str
) -> None:
    failure = describe_failure(kind(text))
    assert "\n" not in failure.reason


SERVER = build_server()


@FIXTURES_OK
@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()))
def test_vas_server_answers_any_line_without_dying(line: bytes) -> None:
    SERVER.handle(line)


@given(st.sampled_from(list(SERVER.tools.values())), JSON)
def test_tool_arguments_are_checked_with_a_readable_refusal(tool: Any, arguments: Any) -> None:
    try:
        check_arguments(tool.input_schema, arguments)
    except ArgumentError as exc:
        assert str(exc)


def test_every_parser_error_here_is_a_va_error() -> None:
    # The errors the properties above allow are va's own, each with an exit code.
    for error in (UsageError, ConfigError, AudioError, RoomError):
        assert issubclass(error, VAError)
    with pytest.raises(UsageError):
        parse_arguments("[1, 2]")
