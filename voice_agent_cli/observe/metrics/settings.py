"""The ``[observability]`` profile section: logs, metrics export, OpenTelemetry, live view.

Every key has a flag and an environment variable, with the usual precedence
(flag > ``VA_*`` > profile > default)::

    [observability]
    log_level = "INFO"        # --log-level, VA_LOG_LEVEL
    log_format = "json"       # stderr format: text or json; --log-format, VA_LOG_FORMAT
    log_file = true           # JSON lines in VA_HOME/logs/va.log (or log_dir)
    metrics_port = 9464       # Prometheus /metrics; --metrics-port, VA_METRICS_PORT
    otel = "console"          # none, console or otlp; --otel, VA_OTEL
    otlp_endpoint = "http://collector:4318"

This module is imported by :mod:`voice_agent_cli.config`, so it imports
neither the config module (which would be circular) nor anything heavy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from voice_agent_cli.section import Section

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ObservabilitySettings(Section):
    """Logs, metrics export and tracing of every command."""

    log_level: str = Field("WARNING", description="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    log_format: Literal["text", "json"] = Field("text", description="format of logs on stderr")
    log_file: bool = Field(True, description="also write JSON logs to a file under log_dir")
    log_dir: Path | None = Field(None, description="default: VA_HOME/logs")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="serve Prometheus metrics on this port (0: any free one)"
    )
    metrics_host: str = Field("127.0.0.1", description="address the metrics endpoint binds to")
    otel: Literal["none", "console", "otlp"] = Field(
        "none", description="OpenTelemetry traces and metrics: none, console (stderr) or otlp"
    )
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP collector; default: $OTEL_EXPORTER_OTLP_ENDPOINT"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: object) -> str:
        name = str(value).strip().upper()
        if name not in LOG_LEVELS:
            raise ValueError(f"not a log level (one of {', '.join(LOG_LEVELS)}): {value!r}")
        return name
