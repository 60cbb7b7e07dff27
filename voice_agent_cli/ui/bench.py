"""The ``va bench`` report as Rich tables: percentiles per stage, figures, budgets, changes."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


def _ms(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:,.1f}" if value >= 10 else f"{value:.3f}"


def _change(entry: dict[str, Any] | None) -> Text:
    """``+12.3 ms (+4.5 %)``, red when slower, green when faster."""
    if not entry:
        return Text("-", style="dim")
    delta = entry["change_ms"]
    pct = entry.get("change_pct")
    shown = f"{delta:+,.1f} ms" + (f" ({pct:+.1f} %)" if pct is not None else "")
    return Text(shown, style="red" if delta > 0 else "green" if delta < 0 else "")


def stages_table(report: dict[str, Any]) -> Table:
    """One row per scenario and stage, with the change against a baseline if compared."""
    percentiles = [p for p in report.get("options", {}).get("percentiles", [50, 95, 99])]
    comparison = (report.get("comparison") or {}).get("scenarios", {})
    table = Table(title="va bench", title_justify="left", header_style="bold")
    table.add_column("scenario", no_wrap=True)
    table.add_column("stage", no_wrap=True)
    table.add_column("n", justify="right")
    for p in percentiles:
        table.add_column(f"p{p:g} ms", justify="right", no_wrap=True)
    table.add_column("mean ms", justify="right", no_wrap=True)
    if comparison:
        table.add_column("p95 change", justify="right", no_wrap=True)
    for name, scenario in report["scenarios"].items():
        if scenario.get("error"):
            row = [name, Text("failed", style="red"), "-", *["-"] * len(percentiles), "-"]
            table.add_row(*row, *(["-"] if comparison else []))
            continue
        for index, (stage, figures) in enumerate(scenario["stages"].items()):
            cells: list[Any] = [
                name if index == 0 else "",
                stage,
                str(figures["n"]),
                *(_ms(figures.get(f"p{p:g}_ms")) for p in percentiles),
                _ms(figures.get("mean_ms")),
            ]
            if comparison:
                cells.append(_change(comparison.get(name, {}).get(stage, {}).get("p95_ms")))
            table.add_row(*cells)
        table.add_section()
    return table


def figures_lines(report: dict[str, Any]) -> list[Text]:
    """``scenario: key=value, ...`` for every scenario's figures, and failures."""
    lines: list[Text] = []
    for name, scenario in report["scenarios"].items():
        if scenario.get("error"):
            lines.append(Text.assemble((f"{name}: ", "bold"), (scenario["error"], "red")))
            continue
        figures = {key: value for key, value in scenario.items() if key != "stages"}
        if figures:
            shown = ", ".join(f"{key}={value}" for key, value in _flat(figures))
            lines.append(Text.assemble((f"{name}: ", "bold"), shown))
    return lines


def _flat(figures: dict[str, Any], prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """Nested figures as ``a.b=value`` pairs, two levels deep (the JSON has them all)."""
    pairs: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if isinstance(value, dict):
            if depth < 1:
                pairs.extend(_flat(value, f"{prefix}{key}.", depth + 1))
            continue
        pairs.append((f"{prefix}{key}", value))
    return pairs


def budgets_table(report: dict[str, Any]) -> Table | None:
    """Each budget, what was measured, and whether it was kept."""
    budgets = report.get("budgets") or []
    if not budgets:
        return None
    table = Table(title="budgets", title_justify="left", header_style="bold")
    table.add_column("budget", no_wrap=True)
    table.add_column("scenario")
    table.add_column("measured ms", justify="right")
    table.add_column("limit ms", justify="right")
    table.add_column("status")
    styles = {"ok": "green", "missed": "bold red", "not measured": "yellow"}
    for entry in budgets:
        table.add_row(
            entry["budget"],
            entry["scenario"] or "-",
            _ms(entry["measured_ms"]),
            _ms(entry["limit_ms"]),
            Text(entry["status"], style=styles.get(entry["status"], "")),
        )
    return table


def render_report(report: dict[str, Any]) -> RenderableType:
    """The whole report for a terminal or a CI log."""
    parts: list[RenderableType] = [stages_table(report), *figures_lines(report)]
    budgets = budgets_table(report)
    if budgets is not None:
        parts.append(budgets)
    comparison = report.get("comparison")
    if comparison:
        parts.append(Text(f"compared with {comparison['against']}", style="dim"))
    return Group(*parts)
