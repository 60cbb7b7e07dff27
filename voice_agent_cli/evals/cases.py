"""Eval cases: scripted conversations with expectations, read from TOML files.

A file holds any number of ``[[case]]`` tables. A case is one conversation of
one or more turns; each turn is typed text or a WAV file (run through the
real voice pipeline) and says what must be true of the agent's answer::

    [[case]]
    name = "percent in words"
    tags = ["tools", "calculator"]
    text = "What is fifteen percent of two hundred forty?"
    tool = "calculate"                      # the tool called ("none": no tool)
    reply_matches = '\\b36\\b'              # a regex found in the reply

    [[case]]
    name = "note read back"
      [[case.turn]]
      text = "Remember that the spare key is under the blue pot."
      tool = "add_note"
      tool_args = { text = "blue pot" }     # regexes each argument must match
      [[case.turn]]
      audio = "audio/where-is-the-key.wav"  # relative to this file
      reply_contains = "blue pot"

A single-turn case may put the turn's keys on the case itself (the first
example). Text checks ignore case unless ``case_sensitive = true``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from voice_agent_cli.errors import UsageError
from voice_agent_cli.section import Section

Source = Literal["prebuffered", "cache", "llm", "experts", "degraded"]
ArgumentValue = str | int | float | bool


#: Keys that take a list but accept a single string.
_LIST_KEYS = frozenset(
    {
        "tool",
        "reply_contains",
        "reply_contains_any",
        "reply_not_contains",
        "reply_matches",
        "reply_not_matches",
        "heard_matches",
        "source",
    }
)


def _as_list(value: Any) -> Any:
    """A single string where a list is expected is a list of one."""
    return [value] if isinstance(value, str) else value


class EvalTurn(Section):
    """One user turn and what must be true of the agent's answer to it."""

    text: str | None = Field(None, description="what the user types")
    audio: Path | None = Field(None, description="a WAV file the user says (relative to the file)")

    tool: list[str] | None = Field(
        None, description='tools that must be called, and no others; ["none"]: no tool at all'
    )
    tool_args: dict[str, ArgumentValue] = Field(
        default_factory=dict,
        description="arguments of the expected tool's call: strings are regexes, others equal",
    )
    reply_contains: list[str] = Field(default_factory=list, description="all must appear")
    reply_contains_any: list[str] = Field(default_factory=list, description="one must appear")
    reply_not_contains: list[str] = Field(default_factory=list, description="none may appear")
    reply_matches: list[str] = Field(default_factory=list, description="regexes, all must match")
    reply_not_matches: list[str] = Field(default_factory=list, description="no regex may match")
    case_sensitive: bool = False
    heard_matches: list[str] = Field(
        default_factory=list, description="regexes the transcript of an audio turn must match"
    )
    source: list[Source] | None = Field(None, description="the path that must have answered")
    llm: str | None = Field(None, description="text the name of the answering LLM must contain")
    error: str | None = Field(
        None, description="a regex the turn's error must match (without it, an error fails)"
    )
    within_ms: dict[str, float] = Field(
        default_factory=dict, description="latency budget per stage (llm_ttft, total, ...)"
    )

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {
                key: _as_list(value) if key in _LIST_KEYS else value for key, value in data.items()
            }
        return data

    @model_validator(mode="after")
    def _one_input(self) -> EvalTurn:
        if (self.text is None) == (self.audio is None):
            raise ValueError("a turn needs exactly one of `text` or `audio`")
        if self.tool_args and not self.tool:
            raise ValueError("`tool_args` needs the `tool` they belong to")
        if self.tool and "none" in self.tool and len(self.tool) > 1:
            raise ValueError('`tool = "none"` cannot be combined with tool names')
        return self

    @field_validator("reply_matches", "reply_not_matches", "heard_matches", "error")
    @classmethod
    def _regexes(cls, value: Any) -> Any:
        for pattern in value if isinstance(value, list) else [value]:
            if pattern is None:
                continue
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from None
        return value

    @property
    def says(self) -> str:
        """The input as shown in reports: the text, or the audio file's name."""
        return self.text if self.text is not None else f"[audio] {self.audio}"


_TURN_KEYS = frozenset(EvalTurn.model_fields)


class EvalCase(Section):
    """One scripted conversation: its turns run in order, in a fresh agent and home."""

    name: str = Field(min_length=1)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    skip: str | None = Field(None, description="a reason to skip the case")
    turn: list[EvalTurn] = Field(min_length=1)
    #: The file the case comes from (set by the loader).
    file: Path = Path("<memory>")

    @model_validator(mode="before")
    @classmethod
    def _inline_turn(cls, data: Any) -> Any:
        """A case without ``[[case.turn]]`` tables is one turn, given on the case itself."""
        if isinstance(data, dict) and "turn" not in data:
            turn = {key: value for key, value in data.items() if key in _TURN_KEYS}
            rest = {key: value for key, value in data.items() if key not in _TURN_KEYS}
            return {**rest, "turn": [turn]} if turn else data
        return data

    @property
    def id(self) -> str:
        """``file-stem::name``, unique across a run (reports and JUnit use it)."""
        return f"{self.file.stem}::{self.name}"


def load_cases(paths: list[Path]) -> list[EvalCase]:
    """The cases of TOML files and of directories (every ``*.toml`` below them), in order.

    Errors name the file, the case and the key: :class:`UsageError` (exit 2).
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.rglob("*.toml")))
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"no such eval file or directory: {path}")
    cases: list[EvalCase] = []
    for file in files:
        cases.extend(_load_file(file))
    if not cases:
        raise UsageError(f"no eval cases found in {', '.join(str(p) for p in paths)}")
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise UsageError(f"{case.file}: two cases are named {case.name!r}")
        seen.add(case.id)
    return cases


def _load_file(file: Path) -> list[EvalCase]:
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{file}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{file}: cannot read: {exc.strerror}") from None
    unknown = set(data) - {"case"}
    if unknown:
        raise UsageError(f"{file}: unknown top-level key {sorted(unknown)[0]!r} (cases: [[case]])")
    raw_cases = data.get("case", [])
    if not isinstance(raw_cases, list):
        raise UsageError(f"{file}: `case` must be an array of tables ([[case]])")
    cases = []
    for index, raw in enumerate(raw_cases, start=1):
        label = f"case {raw.get('name', index)!r}" if isinstance(raw, dict) else f"case {index}"
        try:
            case = EvalCase.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"]) or "(case)"
            message = str(first["msg"]).removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                message = "unknown key"
            raise UsageError(f"{file}: {label}: {key}: {message}") from None
        case.file = file
        for turn in case.turn:
            if turn.audio is not None and not turn.audio.is_absolute():
                turn.audio = file.parent / turn.audio
            if turn.audio is not None and not turn.audio.is_file():
                raise UsageError(f"{file}: {label}: audio file not found: {turn.audio}")
        cases.append(case)
    return cases
