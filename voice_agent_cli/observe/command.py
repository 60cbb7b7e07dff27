"""Observability of one command run: logs, metrics export, tracing and the session.

Every long-running command (``chat``, ``talk``, ``join``, ``bench``) wraps its
work in :func:`observe_command`::

    with observe_command(settings, "talk") as observed:
        ...  # open the agent (compose.agent instruments it), run the session

which, from the profile's ``[observability]`` section (flags and ``VA_*``
variables already folded in):

- configures logging (:func:`voice_agent_cli.observe.log.configure`), telling the
  redaction about the API key the settings hold;
- serves Prometheus metrics when ``metrics_port`` is set;
- turns OpenTelemetry on when ``otel`` is not ``none``;
- opens a session (a correlation id, and the business metrics: active
  sessions, messages per session, duration);

and undoes all of it, flushing, when the block ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voice_agent_cli.observe import ids, log, metrics, tracing
from voice_agent_cli.observe.metrics.prometheus import MetricsServer

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings

logger = logging.getLogger("va.session")


@dataclass
class Observed:
    """What :func:`observe_command` set up for the command."""

    metrics: metrics.Metrics
    session_id: str | None
    log_file: Path | None
    metrics_server: MetricsServer | None = None


@contextmanager
def observe_command(
    settings: Settings,
    command: str,
    *,
    session: bool = True,
    metrics_json: Path | None = None,
) -> Iterator[Observed]:
    """Logs, metrics export, tracing and (with ``session``) a session, for one command."""
    options = settings.profile.observability
    secret = settings.gemini_api_key.value if settings.gemini_api_key else None
    log_file: Path | bool = (options.log_dir / "va.log") if options.log_dir else True
    setup = log.configure(
        options.log_level,
        fmt=options.log_format,
        file=log_file if options.log_file else False,
        secrets=[secret] if secret else [],
    )
    with ExitStack() as stack:
        stack.callback(setup.close)
        # A registry of this command's own: what it reports and exports is its run only.
        registry = stack.enter_context(metrics.use(metrics.Metrics()))
        observed = Observed(registry, None, setup.file)
        if options.metrics_port is not None:
            server = MetricsServer(registry, options.metrics_port, options.metrics_host)
            stack.callback(server.close)
            observed.metrics_server = server
            logger.info("serving metrics on %s", server.url)
        if options.otel != "none":
            tracing.configure(options.otel, endpoint=options.otlp_endpoint, metrics=registry)
            stack.callback(tracing.shutdown)
        if metrics_json is not None:
            stack.callback(write_metrics_json, registry, metrics_json)
        if session:
            observed.session_id = stack.enter_context(open_session(command, registry))
        yield observed


@contextmanager
def open_session(kind: str, registry: metrics.Metrics | None = None) -> Iterator[str]:
    """One session: a correlation id for its logs and spans, and its business metrics."""
    registry = registry or metrics.current()
    with ids.session_scope() as session_id:
        registry.session_started(session_id, kind)
        logger.info("%s session started", kind, extra={"kind": kind})
        try:
            yield session_id
        finally:
            registry.session_ended(session_id)
            logger.info("%s session ended", kind, extra={"kind": kind})


def write_metrics_json(registry: metrics.Metrics, path: Path) -> None:
    """Write the metrics snapshot as JSON (a failure is logged, never raised)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(registry.as_json(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        logger.warning("cannot write the metrics to %s: %s", path, exc.strerror)
