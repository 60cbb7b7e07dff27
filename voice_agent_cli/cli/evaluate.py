"""``va eval``: run scripted conversation checks (TOML cases) against the agent, for CI.

Cases run on whichever provider and profile the flags choose, at temperature 0
unless told otherwise, each in a fresh agent and ``VA_HOME`` (see
:mod:`voice_agent_cli.evals`). The report is a table (``--json``: one JSON
object; ``--junit FILE``: JUnit XML too). The exit code is 1 when a case
failed, or with ``--min-pass`` when the pass rate is below it; 2 for a bad
case file; 3 when a dependency (a model, a tool server) is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from voice_agent_cli.cli import observability
from voice_agent_cli.cli.common import (
    JsonOption,
    LLMOption,
    ModelOption,
    ProfileOption,
    load,
    print_json,
    stderr_console,
)
from voice_agent_cli.errors import EvalFailed, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from voice_agent_cli.evals import CaseResult, EvalCase
    from voice_agent_cli.evals.runner import CaseFinished, CaseStarted


def register(app: typer.Typer) -> None:
    """Add ``va eval`` to ``app``."""
    app.command(
        name="eval",
        help="Run scripted conversation checks (TOML cases): table, JSON, JUnit, exit code.",
    )(eval_command)


def eval_command(
    paths: list[Path] = typer.Argument(
        ..., help="Case files (.toml) or directories of them.", show_default=False
    ),
    json_output: bool = JsonOption,
    junit: Path | None = typer.Option(
        None, "--junit", help="Also write JUnit XML to this file.", dir_okay=False
    ),
    min_pass: float | None = typer.Option(
        None,
        "--min-pass",
        min=0,
        max=100,
        help="Succeed when at least this share of cases pass (0.95 or 95); default: all.",
        show_default=False,
    ),
    select: str | None = typer.Option(
        None, "--select", "-k", help="Only cases whose name or file contains this text."
    ),
    tag: list[str] | None = typer.Option(
        None, "--tag", "-t", help="Only cases with this tag (repeatable).", show_default=False
    ),
    temperature: float = typer.Option(
        0.0, "--temperature", min=0.0, max=2.0, help="LLM temperature (0: repeatable answers)."
    ),
    llm: str | None = LLMOption,
    model: str | None = ModelOption,
    profile: str | None = ProfileOption,
    log_level: str | None = observability.LogLevelOption,
    log_format: str | None = observability.LogFormatOption,
) -> None:
    """Run eval cases and report which passed."""
    import asyncio

    from voice_agent_cli.evals import EvalRunner, load_cases, write_junit
    from voice_agent_cli.observe.command import observe_command

    cases = _selected(load_cases(paths), select, tag or [])
    overrides: dict[str, object] = {
        "llm.provider": llm,
        "llm.temperature": temperature,
        **observability.overrides(log_level, log_format, None, None),
    }
    settings = load(profile, overrides, model=model)
    err = stderr_console()
    runner = EvalRunner(
        settings,
        on_case_started=_announce(err) if err.is_terminal else None,
        on_case_finished=_print_case(err) if err.is_terminal else None,
    )
    with observe_command(settings, "eval", session=False):
        report = asyncio.run(runner.run(cases))
    if junit is not None:
        write_junit(report, junit)
    if json_output:
        print_json(report.as_json())
    else:
        from rich.console import Console

        from voice_agent_cli.ui.evals import report_table

        Console(highlight=False).print(report_table(report))
    required = None if min_pass is None else (min_pass / 100 if min_pass > 1 else min_pass)
    failed = len(report.ran) - report.passed
    if (required is None and failed) or (required is not None and report.pass_rate < required):
        wanted = "" if required is None else f", {required * 100:g} % required"
        raise EvalFailed(
            f"{failed} of {len(report.ran)} eval cases failed "
            f"({report.pass_rate * 100:.1f} % passed{wanted})"
        )


def _selected(cases: list[EvalCase], select: str | None, tags: list[str]) -> list[EvalCase]:
    chosen = [
        case
        for case in cases
        if (select is None or select.lower() in case.id.lower())
        and (not tags or any(tag in case.tags for tag in tags))
    ]
    if not chosen:
        raise UsageError("no eval case matches --select/--tag")
    return chosen


def _announce(err: Console) -> CaseStarted:
    def started(index: int, count: int, case: EvalCase) -> None:
        err.print(f"[dim][{index}/{count}] {case.id}...[/]", end="\r", highlight=False)

    return started


def _print_case(err: Console) -> CaseFinished:
    from voice_agent_cli.ui.evals import case_line

    def finished(result: CaseResult) -> None:
        err.print(case_line(result))

    return finished
