"""Check a turn's outcome against the expectations of its :class:`EvalTurn`.

Each expectation the turn states becomes one :class:`CheckResult`, so a
report can say exactly which ones failed and why ("reply does not match
'\\b36\\b': 'Fifteen percent of 240 is 3.6.'"). Tool names match in full
(``va__calculate``) or without their server prefix (``calculate``).
"""

from __future__ import annotations

import re
from typing import Any

from voice_agent_cli.evals.cases import EvalTurn
from voice_agent_cli.evals.results import CheckResult, TurnOutcome

_SHOWN_CHARS = 120


def check_turn(turn: EvalTurn, outcome: TurnOutcome) -> list[CheckResult]:
    """Every check ``turn`` asks for, in a stable order."""
    checks: list[CheckResult] = [_error(turn, outcome)]
    if outcome.error is not None and turn.error is None:
        return checks  # nothing else is worth checking on a failed turn
    if turn.tool is not None:
        checks.append(_tool(turn.tool, outcome))
    if turn.tool_args:
        checks.append(_tool_args(turn, outcome))
    flags = 0 if turn.case_sensitive else re.IGNORECASE
    reply = outcome.reply
    shown = _shown(reply)
    for text in turn.reply_contains:
        found = _contains(reply, text, turn.case_sensitive)
        checks.append(_check("reply_contains", found, f"reply lacks {text!r}: {shown}"))
    if turn.reply_contains_any:
        found = any(_contains(reply, text, turn.case_sensitive) for text in turn.reply_contains_any)
        wanted = " or ".join(repr(text) for text in turn.reply_contains_any)
        checks.append(_check("reply_contains_any", found, f"reply has none of {wanted}: {shown}"))
    for text in turn.reply_not_contains:
        found = _contains(reply, text, turn.case_sensitive)
        checks.append(_check("reply_not_contains", not found, f"reply has {text!r}: {shown}"))
    for pattern in turn.reply_matches:
        found = re.search(pattern, reply, flags) is not None
        checks.append(_check("reply_matches", found, f"reply does not match {pattern!r}: {shown}"))
    for pattern in turn.reply_not_matches:
        found = re.search(pattern, reply, flags) is not None
        checks.append(_check("reply_not_matches", not found, f"reply matches {pattern!r}: {shown}"))
    for pattern in turn.heard_matches:
        heard = outcome.heard if outcome.heard is not None else ""
        found = re.search(pattern, heard, flags) is not None
        checks.append(
            _check("heard_matches", found, f"heard {heard!r}, which does not match {pattern!r}")
        )
    if turn.source is None and outcome.source == "degraded":
        # No case means to test a reply the LLM never wrote, unless it says so.
        reason = outcome.notices[-1] if outcome.notices else "the LLM was unreachable"
        checks.append(_check("source", False, f"answered in degraded mode ({reason})"))
    if turn.source is not None:
        checks.append(
            _check(
                "source",
                outcome.source in turn.source,
                f"answered from {outcome.source!r}, expected {' or '.join(turn.source)}",
            )
        )
    if turn.llm is not None:
        checks.append(
            _check(
                "llm",
                turn.llm.lower() in (outcome.llm or "").lower(),
                f"answered by {outcome.llm!r}, expected an LLM named like {turn.llm!r}",
            )
        )
    for stage, budget in turn.within_ms.items():
        measured = outcome.timings.get(stage)
        checks.append(
            _check(
                "within_ms",
                measured is not None and measured <= budget,
                f"{stage} took {measured:.0f} ms, over its {budget:g} ms budget"
                if measured is not None
                else f"no {stage} timing was measured",
            )
        )
    return checks


def _check(kind: str, passed: bool, message: str) -> CheckResult:
    return CheckResult(kind, passed, "" if passed else message)


def _shown(reply: str) -> str:
    flat = " ".join(reply.split())
    return repr(flat if len(flat) <= _SHOWN_CHARS else flat[: _SHOWN_CHARS - 3] + "...")


def _contains(reply: str, text: str, case_sensitive: bool) -> bool:
    return text in reply if case_sensitive else text.casefold() in reply.casefold()


def _error(turn: EvalTurn, outcome: TurnOutcome) -> CheckResult:
    if turn.error is None:
        return _check("error", outcome.error is None, f"the turn failed: {outcome.error}")
    if outcome.error is None:
        return _check("error", False, f"the turn did not fail (expected {turn.error!r})")
    found = re.search(turn.error, outcome.error, re.IGNORECASE) is not None
    return _check("error", found, f"the turn failed otherwise: {outcome.error}")


def _same_tool(called: str, expected: str) -> bool:
    return called == expected or called.rsplit("__", 1)[-1] == expected


def _tool(expected: list[str], outcome: TurnOutcome) -> CheckResult:
    called = [call["name"] for call in outcome.tool_calls]
    shown = ", ".join(called) or "no tool"
    if expected == ["none"]:
        return _check("tool", not called, f"called {shown}, expected no tool")
    missing = [name for name in expected if not any(_same_tool(c, name) for c in called)]
    extra = [c for c in called if not any(_same_tool(c, name) for name in expected)]
    return _check(
        "tool",
        not missing and not extra,
        f"called {shown}, expected {', '.join(expected)}",
    )


def _tool_args(turn: EvalTurn, outcome: TurnOutcome) -> CheckResult:
    assert turn.tool is not None
    calls = [
        call
        for call in outcome.tool_calls
        if any(_same_tool(call["name"], name) for name in turn.tool)
    ]
    if not calls:
        return _check("tool_args", False, f"no call of {', '.join(turn.tool)} to check")
    flags = 0 if turn.case_sensitive else re.IGNORECASE
    for call in calls:
        if all(
            _argument_matches(call["arguments"].get(key), wanted, flags)
            for key, wanted in turn.tool_args.items()
        ):
            return _check("tool_args", True, "")
    shown = "; ".join(f"{call['name']}({call['arguments']})" for call in calls)
    return _check("tool_args", False, f"arguments {turn.tool_args} not met by {shown}")


def _argument_matches(value: Any, wanted: Any, flags: int) -> bool:
    if value is None:
        return False
    if isinstance(wanted, str):
        return re.search(wanted, str(value), flags) is not None
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return False
