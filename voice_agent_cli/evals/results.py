"""What an eval run produced: per turn, per case, and the figures of the whole run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voice_agent_cli.evals.cases import EvalCase


@dataclass
class TurnOutcome:
    """What the agent did with one turn, as the checks see it."""

    says: str
    reply: str = ""
    #: The transcript of an audio turn (what the STT heard).
    heard: str | None = None
    source: str | None = None
    llm: str | None = None
    #: Each tool call: ``{"name": ..., "arguments": {...}}``, in order.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    #: The agent's tool decisions and why (``TurnCompleted.details["tool_decisions"]``).
    tool_decisions: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The outcome as plain data."""
        data: dict[str, Any] = {
            "says": self.says,
            "reply": self.reply,
            "source": self.source,
            "llm": self.llm,
            "tool_calls": self.tool_calls,
            "tool_decisions": self.tool_decisions,
            "timings": self.timings,
            "notices": self.notices,
            "error": self.error,
        }
        if self.heard is not None:
            data["heard"] = self.heard
        return data


@dataclass(frozen=True)
class CheckResult:
    """One expectation checked: its kind (``tool``, ``reply_matches`` ...), verdict and why."""

    kind: str
    passed: bool
    message: str


@dataclass
class TurnResult:
    """A turn's outcome and the checks made on it."""

    outcome: TurnOutcome
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[str]:
        """The messages of the failed checks."""
        return [check.message for check in self.checks if not check.passed]

    def as_json(self) -> dict[str, Any]:
        """The turn as plain data."""
        return {
            **self.outcome.as_json(),
            "passed": self.passed,
            "checks": len(self.checks),
            "failures": self.failures,
        }


@dataclass
class CaseResult:
    """How one case went: its turns, its time, or why it was skipped."""

    case: EvalCase
    turns: list[TurnResult] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        """True when every turn ran and passed (a skipped case neither passes nor fails)."""
        return (
            self.skipped is None
            and len(self.turns) == len(self.case.turn)
            and all(turn.passed for turn in self.turns)
        )

    @property
    def failures(self) -> list[str]:
        """Every failure, prefixed with its turn number when the case has several."""
        several = len(self.case.turn) > 1
        found = [
            f"turn {number}: {message}" if several else message
            for number, turn in enumerate(self.turns, start=1)
            for message in turn.failures
        ]
        if self.skipped is None and len(self.turns) < len(self.case.turn):
            found.append(f"stopped after turn {len(self.turns)} of {len(self.case.turn)}")
        return found

    def as_json(self) -> dict[str, Any]:
        """The case as plain data."""
        return {
            "case": self.case.name,
            "file": str(self.case.file),
            "tags": self.case.tags,
            "passed": self.passed,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "failures": self.failures,
            "turns": [turn.as_json() for turn in self.turns],
        }


@dataclass
class EvalReport:
    """Every case of a run, and what the run was run on."""

    results: list[CaseResult]
    llm: str
    profile: str
    seconds: float = 0.0

    @property
    def ran(self) -> list[CaseResult]:
        """The cases that were not skipped."""
        return [result for result in self.results if result.skipped is None]

    @property
    def passed(self) -> int:
        """How many cases passed."""
        return sum(result.passed for result in self.ran)

    @property
    def pass_rate(self) -> float:
        """Passed cases over cases run (1.0 when none ran)."""
        return self.passed / len(self.ran) if self.ran else 1.0

    def tool_accuracy(self) -> tuple[int, int]:
        """Turns whose tool expectation held, and turns that had one (the right-tool rate)."""
        checks = [
            check
            for result in self.ran
            for turn in result.turns
            for check in turn.checks
            if check.kind == "tool"
        ]
        return sum(check.passed for check in checks), len(checks)

    def as_json(self) -> dict[str, Any]:
        """The stable JSON report of ``va eval --json`` (``version`` 1)."""
        right, total = self.tool_accuracy()
        return {
            "version": 1,
            "llm": self.llm,
            "profile": self.profile,
            "cases": len(self.results),
            "passed": self.passed,
            "failed": len(self.ran) - self.passed,
            "skipped": len(self.results) - len(self.ran),
            "pass_rate": round(self.pass_rate, 4),
            "right_tool": {"right": right, "total": total},
            "seconds": round(self.seconds, 3),
            "results": [result.as_json() for result in self.results],
        }
