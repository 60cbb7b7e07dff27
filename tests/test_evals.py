"""``va eval``: the case format, the checks, the runner and the command, on small fixtures.

The runner is what is under test here, so the agent answers from a scripted
FakeLLM (or the local Gemini-compatible server for the command); the shipped
evals run against the real default model in ``test_shipped_evals.py``.
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_helpers import run_va
from voice_agent_cli.config import Settings, load_settings
from voice_agent_cli.errors import LLMBadRequest, LLMServerError, UsageError
from voice_agent_cli.evals import EvalRunner, TurnOutcome, junit_xml, load_cases
from voice_agent_cli.evals.cases import EvalTurn
from voice_agent_cli.evals.checks import check_turn
from voice_agent_cli.llm.base import LLMRequest
from voice_agent_cli.llm.settings import DEFAULT_GEMINI_MODEL
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini

GEMINI_DEFAULT = f"gemini:{DEFAULT_GEMINI_MODEL}"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def failures(turn: EvalTurn, outcome: TurnOutcome) -> list[str]:
    return [check.message for check in check_turn(turn, outcome) if not check.passed]


# -- the case format ---------------------------------------------------------------


def test_a_case_is_one_inline_turn_or_several_turn_tables(tmp_path: Path) -> None:
    write(
        tmp_path,
        "cases.toml",
        """
        [[case]]
        name = "one"
        tags = ["a"]
        text = "Hello?"
        tool = "none"
        reply_contains = "hi"

        [[case]]
        name = "two"
          [[case.turn]]
          text = "first"
          source = "llm"
          [[case.turn]]
          text = "second"
          reply_matches = ['\\bok\\b', 'fine']
        """,
    )
    one, two = load_cases([tmp_path])
    assert one.id == "cases::one" and one.tags == ["a"]
    assert [(t.text, t.tool, t.reply_contains) for t in one.turn] == [("Hello?", ["none"], ["hi"])]
    assert [t.text for t in two.turn] == ["first", "second"]
    assert two.turn[0].source == ["llm"]
    assert two.turn[1].reply_matches == [r"\bok\b", "fine"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'name = "x"\ntext = "hi"\nreply_contain = "a"',
            "case 'x': reply_contain: unknown key",
        ),
        ('name = "x"\ntext = "hi"\nreply_matches = "("', "bad regex"),
        ('name = "x"\ntext = "hi"\naudio = "a.wav"', "exactly one of `text` or `audio`"),
        ('name = "x"\naudio = "missing.wav"', "audio file not found"),
        ('name = "x"\ntext = "hi"\nsource = "oracle"', "source"),
        ('name = "x"\ntext = "hi"\ntool_args = { a = "b" }', "`tool_args` needs the `tool`"),
        ('text = "hi"', "name"),
    ],
)
def test_a_bad_case_names_its_file_case_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, "bad.toml", "[[case]]\n" + body + "\n")
    with pytest.raises(UsageError) as raised:
        load_cases([path])
    assert str(raised.value).startswith(f"{path}:")
    assert message in str(raised.value)


def test_two_cases_with_one_name_or_no_cases_at_all_are_refused(tmp_path: Path) -> None:
    twice = write(
        tmp_path, "t.toml", '[[case]]\nname="a"\ntext="x"\n[[case]]\nname="a"\ntext="y"\n'
    )
    with pytest.raises(UsageError, match="two cases are named 'a'"):
        load_cases([twice])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="no eval cases found"):
        load_cases([empty])


# -- the checks --------------------------------------------------------------------


def test_tool_checks_accept_short_names_and_refuse_extra_calls() -> None:
    outcome = TurnOutcome(
        says="q",
        tool_calls=[{"name": "va__calculate", "arguments": {"expression": "12*7", "n": 3}}],
    )
    assert failures(EvalTurn(text="q", tool=["calculate"]), outcome) == []
    assert failures(EvalTurn(text="q", tool=["none"]), outcome) == [
        "called va__calculate, expected no tool"
    ]
    assert failures(EvalTurn(text="q", tool=["now"]), outcome) == [
        "called va__calculate, expected now"
    ]
    good = EvalTurn(text="q", tool=["calculate"], tool_args={"expression": r"12\s*\*\s*7", "n": 3})
    assert failures(good, outcome) == []
    bad = EvalTurn(text="q", tool=["calculate"], tool_args={"expression": "13"})
    assert "arguments {'expression': '13'} not met" in failures(bad, outcome)[0]


def test_reply_checks_ignore_case_unless_told() -> None:
    outcome = TurnOutcome(says="q", reply="Paris is the capital of France.")
    turn = EvalTurn(
        text="q",
        reply_contains=["paris"],
        reply_contains_any=["Lyon", "FRANCE"],
        reply_not_contains=["berlin"],
        reply_matches=[r"\bcapital\b"],
        reply_not_matches=[r"\bis not\b"],
    )
    assert failures(turn, outcome) == []
    strict = EvalTurn(text="q", reply_contains=["paris"], case_sensitive=True)
    assert failures(strict, outcome) == ["reply lacks 'paris': 'Paris is the capital of France.'"]
    wrong = EvalTurn(text="q", reply_not_contains=["France"], reply_matches=["Rome"])
    assert failures(wrong, outcome) == [
        "reply has 'France': 'Paris is the capital of France.'",
        "reply does not match 'Rome': 'Paris is the capital of France.'",
    ]


def test_source_llm_latency_and_error_checks() -> None:
    outcome = TurnOutcome(
        says="q", reply="hi", source="cache", llm="local:qwen", timings={"total": 120.0}
    )
    turn = EvalTurn(text="q", source=["llm"], llm="gemini", within_ms={"total": 100, "e2e": 5})
    assert failures(turn, outcome) == [
        "answered from 'cache', expected llm",
        "answered by 'local:qwen', expected an LLM named like 'gemini'",
        "total took 120 ms, over its 100 ms budget",
        "no e2e timing was measured",
    ]
    failed = TurnOutcome(says="q", error="Gemini blocked the request (SAFETY)")
    assert failures(EvalTurn(text="q", reply_contains=["x"]), failed) == [
        "the turn failed: Gemini blocked the request (SAFETY)"
    ]
    assert failures(EvalTurn(text="q", error="blocked"), failed) == []
    assert failures(EvalTurn(text="q", error="blocked"), outcome) == [
        "the turn did not fail (expected 'blocked')"
    ]


# -- the runner --------------------------------------------------------------------


def offline_settings(**overrides: object) -> Settings:
    """The default profile without tool servers (fast), at temperature 0."""
    return load_settings(
        "default", {"llm.temperature": 0.0, "mcp.servers.va.enabled": False, **overrides}
    )


def scripted(answer: Callable[[LLMRequest], str]) -> Callable[[], FakeLLM]:
    return lambda: FakeLLM(responder=answer)


def last_user(request: LLMRequest) -> str:
    return next(m.content for m in reversed(request.messages) if m.role == "user")


async def test_each_case_starts_a_fresh_conversation_and_is_checked(tmp_path: Path) -> None:
    write(
        tmp_path,
        "c.toml",
        """
        [[case]]
        name = "remembers within a case"
          [[case.turn]]
          text = "my name is Ada"
          [[case.turn]]
          text = "what is my name?"
          reply_contains = "Ada"

        [[case]]
        name = "forgets between cases"
        text = "what is my name?"
        reply_not_contains = "Ada"
        source = "llm"
        """,
    )
    seen: list[int] = []

    def answer(request: LLMRequest) -> str:
        seen.append(len(request.messages))
        said = " ".join(m.content for m in request.messages if m.role == "user")
        return "You are Ada." if "Ada" in said and "name?" in last_user(request) else "Noted."

    report = await EvalRunner(offline_settings(), llm_factory=scripted(answer)).run(
        load_cases([tmp_path])
    )
    assert [r.passed for r in report.results] == [True, True]
    assert seen == [1, 3, 1]  # the second case began with no history
    assert report.pass_rate == 1.0 and report.llm == "fake:scripted"
    data = report.as_json()
    assert data["passed"] == 2 and data["version"] == 1
    assert data["results"][0]["turns"][1]["reply"] == "You are Ada."


async def test_an_unexpected_error_fails_the_case_and_stops_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        "c.toml",
        """
        [[case]]
        name = "breaks"
          [[case.turn]]
          text = "one"
          [[case.turn]]
          text = "two"

        [[case]]
        name = "expects it"
        text = "boom"
        error = "bad request"
        """,
    )

    def answer(request: LLMRequest) -> str:
        raise LLMBadRequest("bad request from the fake")

    runner = EvalRunner(offline_settings(), llm_factory=scripted(answer))
    report = await runner.run(load_cases([tmp_path]))
    breaks, expects = report.results
    assert not breaks.passed and len(breaks.turns) == 1
    assert breaks.failures == [
        "turn 1: the turn failed: bad request from the fake",
        "stopped after turn 1 of 2",
    ]
    assert expects.passed
    assert report.passed == 1 and report.pass_rate == 0.5


async def test_a_degraded_reply_fails_unless_the_case_expects_one(tmp_path: Path) -> None:
    write(
        tmp_path,
        "c.toml",
        """
        [[case]]
        name = "needs the llm"
        text = "hello llm"

        [[case]]
        name = "tests degraded mode"
        text = "hello llm"
        source = "degraded"
        reply_contains = "try again"
        """,
    )

    def down(request: LLMRequest) -> str:
        raise LLMServerError("503 from the fake")

    settings = offline_settings(**{"llm.max_retries": 0})
    report = await EvalRunner(settings, llm_factory=scripted(down)).run(load_cases([tmp_path]))
    needs, tests = report.results
    assert needs.failures == ["answered in degraded mode (degraded mode: 503 from the fake)"]
    assert tests.passed


async def test_skipped_cases_and_the_right_tool_rate(tmp_path: Path) -> None:
    write(
        tmp_path,
        "c.toml",
        """
        [[case]]
        name = "no tool"
        text = "Who wrote Hamlet?"
        tool = "none"

        [[case]]
        name = "wants a tool"
        text = "What is 2 plus 2?"
        tool = "calculate"

        [[case]]
        name = "later"
        skip = "not built yet"
        text = "x"
        """,
    )
    report = await EvalRunner(offline_settings(), llm_factory=scripted(lambda r: "An answer.")).run(
        load_cases([tmp_path])
    )
    assert [r.passed for r in report.results] == [True, False, False]
    assert report.results[2].skipped == "not built yet"
    assert report.tool_accuracy() == (1, 2)
    assert report.as_json()["skipped"] == 1
    suite = ET.fromstring(junit_xml(report))
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    failed = suite.find("testcase[@name='wants a tool']/failure")
    assert failed is not None and failed.get("message") == "called no tool, expected calculate"


async def test_notes_never_leak_from_one_case_into_the_next(tmp_path: Path) -> None:
    """With va's real tool server: each case has its own VA_HOME, so its own notes."""
    write(
        tmp_path,
        "notes.toml",
        """
        [[case]]
        name = "saves"
        text = "Remember that the key is under the mat."
        tool = "add_note"
        tool_args = { text = "under the mat" }

        [[case]]
        name = "finds nothing"
        text = "What are my notes?"
        tool = "list_notes"
        reply_contains = "no notes"
        """,
    )

    def with_the_tool_result(request: LLMRequest) -> str:
        return request.messages[-1].content  # the tool's own words

    settings = load_settings("default", {"llm.temperature": 0.0, "cache.enabled": False})
    report = await EvalRunner(settings, llm_factory=scripted(with_the_tool_result)).run(
        load_cases([tmp_path])
    )
    assert [r.failures for r in report.results] == [[], []]
    assert report.results[1].turns[0].outcome.reply == "There are no notes yet."
    decisions = report.results[0].turns[0].outcome.tool_decisions
    assert decisions[0]["why"] == "rule: save a note"


@pytest.mark.slow
async def test_an_audio_turn_runs_through_the_voice_loop(
    tmp_path: Path, say: Callable[[str], object]
) -> None:
    from voice_agent_cli.speech.audio import write_wav

    write_wav(tmp_path / "q.wav", say("What is the capital of France?"), 16000)  # type: ignore[arg-type]
    write(
        tmp_path,
        "voice.toml",
        """
        [[case]]
        name = "spoken"
        audio = "q.wav"
        heard_matches = "capital of france"
        reply_contains = "Paris"
        within_ms = { e2e_latency = 60000 }
        """,
    )
    report = await EvalRunner(
        offline_settings(), llm_factory=scripted(lambda r: "Paris is the capital.")
    ).run(load_cases([tmp_path]))
    (result,) = report.results
    assert result.failures == []
    outcome = result.turns[0].outcome
    assert outcome.heard is not None and "France" in outcome.heard
    assert {"e2e_latency", "transcription_delay", "llm_ttft"} <= set(outcome.timings)


# -- the command -------------------------------------------------------------------


@pytest.fixture
def cli_env(gemini_env: dict[str, str]) -> dict[str, str]:
    return {**gemini_env, "VA_MCP__SERVERS__VA__ENABLED": "false"}


CASES = """
[[case]]
name = "capital"
text = "What is the capital of France?"
reply_contains = "Paris"

[[case]]
name = "echo"
text = "Say something"
reply_matches = "^echo: "
llm = "gemini"
"""


def test_va_eval_runs_on_gemini_with_json_and_junit(
    tmp_path: Path, fake_gemini: FakeGemini, cli_env: dict[str, str]
) -> None:
    cases = write(tmp_path, "cases.toml", CASES)
    fake_gemini.enqueue(script.text("Paris is the capital of France."))
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    result = run_va(
        "eval", str(cases), "--llm", "gemini", "--json", "--junit", str(junit), env=cli_env
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["passed"], report["failed"], report["llm"]) == (
        2,
        0,
        GEMINI_DEFAULT,
    )
    assert fake_gemini.requests[0].body["generationConfig"]["temperature"] == 0.0
    suite = ET.parse(junit).getroot()
    assert [case.get("name") for case in suite.iter("testcase")] == ["capital", "echo"]


def test_va_eval_exits_1_on_a_failure_unless_above_min_pass(
    tmp_path: Path, fake_gemini: FakeGemini, cli_env: dict[str, str]
) -> None:
    cases = write(tmp_path, "cases.toml", CASES)
    fake_gemini.enqueue(script.text("Lyon."))
    failed = run_va("eval", str(cases), "--llm", "gemini", env=cli_env)
    assert failed.exit_code == 1
    assert "capital" in failed.stdout and "FAIL" in failed.stdout
    assert "1/2 cases passed (50.0 %)" in failed.stdout
    assert "va: 1 of 2 eval cases failed (50.0 % passed)" in failed.stderr
    fake_gemini.enqueue(script.text("Lyon."))
    lenient = run_va("eval", str(cases), "--llm", "gemini", "--min-pass", "50", env=cli_env)
    assert lenient.exit_code == 0, lenient.stderr
    fake_gemini.enqueue(script.text("Lyon."))
    strict = run_va("eval", str(cases), "--llm", "gemini", "--min-pass", "0.9", env=cli_env)
    assert strict.exit_code == 1
    assert "90 % required" in strict.stderr


def test_va_eval_selects_cases_and_refuses_bad_files(
    tmp_path: Path, fake_gemini: FakeGemini, cli_env: dict[str, str]
) -> None:
    cases = write(tmp_path, "cases.toml", CASES)
    only = run_va("eval", str(cases), "--llm", "gemini", "-k", "echo", "--json", env=cli_env)
    assert only.exit_code == 0, only.stderr
    assert [r["case"] for r in json.loads(only.stdout)["results"]] == ["echo"]
    bad = write(tmp_path, "bad.toml", "[[case]]\nname = 'x'\n")
    refused = run_va("eval", str(bad), env=cli_env)
    assert refused.exit_code == 2
    assert "bad.toml: case 'x'" in refused.stderr
    assert run_va("eval", str(tmp_path / "nope.toml"), env=cli_env).exit_code == 2
