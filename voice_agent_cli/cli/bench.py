"""``va bench``: latency scenarios run headless, percentiles, budgets, JSON for CI.

``va bench`` runs every scenario module found in :mod:`voice_agent_cli.bench`
(or the profile's ``[bench] scenarios``); ``va bench chat gemini`` runs those.
Each scenario's warm-up runs are excluded; percentiles are exact over the
measured samples. ``--budget [scenario.]stage[:pNN]=ms`` (repeatable, and
``[bench.budgets]`` in the profile) makes the command exit with code 4 when a
percentile is over its budget; ``--compare old.json`` shows the change against
a run saved with ``--json`` (or ``--save``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from voice_agent_cli.cli import observability
from voice_agent_cli.cli.common import JsonOption, ProfileOption, load, print_json, stderr_console
from voice_agent_cli.errors import BudgetMissed, UsageError, VAError

if TYPE_CHECKING:
    from voice_agent_cli.bench._budgets import Budget
    from voice_agent_cli.config import Settings


def register(app: typer.Typer) -> None:
    """Add ``va bench`` to ``app``."""
    app.command(help="Latency benchmarks: scenarios, percentiles, budgets, JSON for CI.")(bench)


def bench(
    scenarios: list[str] | None = typer.Argument(
        None,
        help="Scenarios to run (default: the profile's [bench] scenarios, else all).",
        show_default=False,
    ),
    iterations: int | None = typer.Option(
        None, "--iterations", "-n", min=1, help="Measured runs per scenario (default 20)."
    ),
    warmup: int | None = typer.Option(
        None, "--warmup", "-w", min=0, help="Runs before measuring, never reported (default 3)."
    ),
    percentiles: str | None = typer.Option(
        None,
        "--percentiles",
        help="Extra percentiles to report, comma-separated (p50, p95, p99 always are).",
        show_default=False,
    ),
    budgets: list[str] | None = typer.Option(
        None,
        "--budget",
        "-b",
        help="[scenario.]stage[:pNN]=ms, repeatable; a miss exits with code 4 (default p95).",
        show_default=False,
    ),
    compare: Path | None = typer.Option(
        None,
        "--compare",
        help="A saved `va bench --json` report to compare with.",
        exists=False,
        dir_okay=False,
        show_default=False,
    ),
    save: Path | None = typer.Option(
        None,
        "--save",
        help="Also write the JSON report to this file.",
        dir_okay=False,
        show_default=False,
    ),
    device: bool = typer.Option(
        False,
        "--device",
        help="voice: also through real sound devices (a private PulseAudio with a virtual "
        "speaker and microphone), next to the in-memory figures.",
    ),
    list_only: bool = typer.Option(False, "--list", help="List the scenarios and exit."),
    json_output: bool = JsonOption,
    profile: str | None = ProfileOption,
    log_level: str | None = observability.LogLevelOption,
    log_format: str | None = observability.LogFormatOption,
    otel: str | None = observability.OtelOption,
) -> None:
    """Run latency scenarios and report percentiles per stage."""
    from voice_agent_cli.bench import _runner

    if list_only:
        _list_scenarios(json_output)
        return
    settings = load(profile, observability.overrides(log_level, log_format, None, otel))
    options = settings.profile.bench
    names = list(scenarios or options.scenarios or _runner.available())
    _runner.check_names(names)
    extra = _parse_percentiles(percentiles) if percentiles else options.percentiles
    budget_list = _budgets(settings, budgets or [])

    from voice_agent_cli.bench._report import load_baseline

    baseline = load_baseline(compare) if compare else None

    from voice_agent_cli.observe.command import observe_command

    with observe_command(settings, "bench", session=False):
        report = _run(
            names,
            iterations=iterations or options.iterations,
            warmup=options.warmup if warmup is None else warmup,
            percentiles=extra,
            budgets=budget_list,
            profile=profile,
            baseline=(baseline, str(compare)) if baseline is not None else None,
            device=device,
        )
    _output(report, json_output=json_output, save=save)
    _exit_code(report)


def _list_scenarios(json_output: bool) -> None:
    from voice_agent_cli.bench import _runner

    described = {name: _runner.describe(name) for name in _runner.available()}
    if json_output:
        print_json({"scenarios": described})
        return
    for name, description in described.items():
        typer.echo(f"{name:<14} {description}")


def _parse_percentiles(text: str) -> list[float]:
    values: list[float] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            value = float(part.removeprefix("p"))
        except ValueError:
            raise UsageError(
                f"bad percentile {part!r} in --percentiles (e.g. 50,90,99.9)"
            ) from None
        if not 0 < value <= 100:
            raise UsageError(f"bad percentile {part!r}: between 0 and 100")
        values.append(value)
    return values


def _budgets(settings: Settings, flags: list[str]) -> list[Budget]:
    """The profile's budgets, then the flags' (a flag for the same target replaces it)."""
    from voice_agent_cli.bench._budgets import parse_budget

    default = settings.profile.bench.budget_percentile
    chosen: dict[tuple[str | None, str, float], Budget] = {}
    profile_budgets = [f"{key}={value}" for key, value in settings.profile.bench.budgets.items()]
    for text in [*profile_budgets, *flags]:
        budget = parse_budget(text, default_percentile=default)
        chosen[(budget.scenario, budget.stage, budget.percentile)] = budget
    return list(chosen.values())


def _run(
    names: list[str],
    *,
    iterations: int,
    warmup: int,
    percentiles: list[float],
    budgets: list[Budget],
    profile: str | None,
    baseline: tuple[dict[str, Any], str] | None,
    device: bool = False,
) -> dict[str, Any]:
    from voice_agent_cli.bench import BenchOptions, _runner
    from voice_agent_cli.bench._budgets import check_budgets
    from voice_agent_cli.bench._report import build_report, compare, report_percentiles

    err = stderr_console()
    bench_options = BenchOptions(
        iterations=iterations, warmup=warmup, profile=profile, device=device
    )
    outcomes = []
    for number, name in enumerate(names, start=1):
        label = f"[{number}/{len(names)}] {name}"
        if err.is_terminal:
            with err.status(f"{label}: {warmup} warm-up + {iterations} measured runs..."):
                outcome = _runner.run_scenario(name, bench_options)
        else:
            outcome = _runner.run_scenario(name, bench_options)
        verdict = (
            f"failed: {outcome.error}" if outcome.error else f"done in {outcome.seconds:.1f} s"
        )
        err.print(f"{label} {verdict}", markup=False, highlight=False)
        outcomes.append(outcome)
    samples = {o.name: o.run.stages for o in outcomes if o.run is not None}
    report = build_report(
        outcomes,
        percentiles=report_percentiles(percentiles),
        iterations=iterations,
        warmup=warmup,
        budgets=check_budgets(budgets, samples),
    )
    if baseline is not None:
        report["comparison"] = compare(report, baseline[0], baseline[1])
    return report


def _output(report: dict[str, Any], *, json_output: bool, save: Path | None) -> None:
    if save is not None:
        try:
            save.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {save}: {exc.strerror}") from None
    if json_output:
        print_json(report)
        return
    from rich.console import Console

    from voice_agent_cli.ui.bench import render_report

    console = Console(highlight=False)
    if not console.is_terminal:
        # CI logs and files: wide enough that the table never wraps.
        console = Console(highlight=False, width=140)
    console.print(render_report(report))


def _exit_code(report: dict[str, Any]) -> None:
    """Exit 4 when a budget was missed, 1 (or the scenario's code) when a scenario failed."""
    missed = [entry for entry in report["budgets"] if entry["status"] == "missed"]
    failed = [name for name, s in report["scenarios"].items() if s.get("error")]
    if failed:
        error = VAError(
            f"bench scenario{'s' if len(failed) > 1 else ''} failed: {', '.join(failed)}"
        )
        # The first failure's own code: 3 says a dependency was missing, 1 anything else.
        error.exit_code = int(report["scenarios"][failed[0]].get("exit_code") or 1)
        raise error
    if missed:
        shown = "; ".join(
            f"{entry['scenario']}.{entry['stage']} p{entry['percentile']:g} "
            f"{entry['measured_ms']:.1f} ms > {entry['limit_ms']:g} ms"
            for entry in missed
        )
        raise BudgetMissed(f"latency budget missed: {shown}")
