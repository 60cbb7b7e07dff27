"""Observability flags shared by ``chat``, ``talk``, ``join`` and ``bench``.

Each flag is a profile key of ``[observability]`` (flag > ``VA_*`` > profile >
default), so :func:`overrides` turns the given flags into dotted keys for
:func:`~voice_agent_cli.cli.common.load`.
"""

from __future__ import annotations

import typer

LogLevelOption = typer.Option(
    None,
    "--log-level",
    help="Log level: debug, info, warning (default) or error. Env: VA_LOG_LEVEL.",
    show_default=False,
)
LogFormatOption = typer.Option(
    None,
    "--log-format",
    help="Logs on stderr as text (default) or json. A JSON log file is kept in VA_HOME/logs.",
    show_default=False,
)
MetricsPortOption = typer.Option(
    None,
    "--metrics-port",
    help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics. Env: VA_METRICS_PORT.",
    show_default=False,
)
OtelOption = typer.Option(
    None,
    "--otel",
    help="OpenTelemetry traces and metrics: none, console (stderr) or otlp. Env: VA_OTEL.",
    show_default=False,
)
MetricsJsonOption = typer.Option(
    None,
    "--metrics-json",
    help="On exit, write the metrics (latency percentiles, counters) as JSON to this file.",
    show_default=False,
    dir_okay=False,
)
DashboardOption = typer.Option(
    False,
    "--dashboard",
    help="Show the live dashboard (latency, buffer hit rate, circuits, events); "
    "plain lines when stdout is not a terminal.",
)


def overrides(
    log_level: str | None,
    log_format: str | None,
    metrics_port: int | None,
    otel: str | None,
) -> dict[str, object]:
    """The given observability flags as dotted profile keys (``None`` = not given)."""
    return {
        "observability.log_level": log_level,
        "observability.log_format": log_format.lower() if log_format else None,
        "observability.metrics_port": metrics_port,
        "observability.otel": otel.lower() if otel else None,
    }


__all__ = [
    "DashboardOption",
    "LogFormatOption",
    "LogLevelOption",
    "MetricsJsonOption",
    "MetricsPortOption",
    "OtelOption",
    "overrides",
]
