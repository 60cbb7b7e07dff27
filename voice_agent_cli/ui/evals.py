"""The ``va eval`` report as a Rich table, and one line per case while a run goes on."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from voice_agent_cli.evals.results import CaseResult, EvalReport

_DETAIL_CHARS = 90


def _verdict(result: CaseResult) -> Text:
    if result.skipped is not None:
        return Text("skip", style="yellow")
    return Text("pass", style="green") if result.passed else Text("FAIL", style="bold red")


def _detail(result: CaseResult) -> str:
    """The first failure, or what the agent said last (shortened)."""
    if result.skipped is not None:
        return result.skipped
    if not result.passed:
        text = result.failures[0] if result.failures else ""
    else:
        text = result.turns[-1].outcome.reply if result.turns else ""
    flat = " ".join(text.split())
    return flat if len(flat) <= _DETAIL_CHARS else flat[: _DETAIL_CHARS - 3] + "..."


def case_line(result: CaseResult) -> Text:
    """``pass  general::capital of France  0.8 s`` (printed as each case finishes)."""
    line = _verdict(result)
    line.append(f"  {result.case.id}  ", style="")
    line.append(f"{result.seconds:.1f} s", style="dim")
    if not result.passed and result.skipped is None:
        line.append(f"  {_detail(result)}", style="red")
    return line


def report_table(report: EvalReport) -> RenderableType:
    """One row per case, then the summary: pass rate, right-tool rate, LLM and time."""
    table = Table(title="va eval", title_justify="left", header_style="bold")
    table.add_column("case", no_wrap=True)
    table.add_column("turns", justify="right")
    table.add_column("result", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    table.add_column("first failure, or the last reply", overflow="fold")
    for result in report.results:
        table.add_row(
            Text(result.case.id),
            str(len(result.case.turn)),
            _verdict(result),
            f"{result.seconds:.1f}",
            Text(_detail(result), style="" if result.passed else "red"),
        )
    return Group(table, summary(report))


def summary(report: EvalReport) -> Text:
    """``58/60 cases passed (96.7 %) · right tool 41/42 · local:qwen2.5-coder-1.5b · 83 s``."""
    ran = len(report.ran)
    right, total = report.tool_accuracy()
    style = "bold green" if report.passed == ran else "bold red"
    text = Text(f"{report.passed}/{ran} cases passed ({report.pass_rate * 100:.1f} %)", style=style)
    skipped = len(report.results) - ran
    if skipped:
        text.append(f", {skipped} skipped", style="yellow")
    if total:
        text.append(f" · right tool {right}/{total}")
    text.append(f" · {report.llm or '?'} · {report.seconds:.0f} s", style="dim")
    return text
