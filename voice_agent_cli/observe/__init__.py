"""Observability in one home: ids, redaction, logs, traces, metrics, the turn observer.

The arrows run one way, and nothing here imports the layers it observes::

    ids                                    session and turn ids, in context variables
    redaction                              secrets and personal data out of every text
    metrics                                the registry: latencies, counters, gauges
    tracing ─► ids, redaction, metrics     OpenTelemetry spans and instruments
    log ─────► ids, redaction, tracing     every record: the ids in force, redacted
    turns ───► ids, tracing, metrics       the agent's events -> metrics, logs, spans
    command ─► ids, log, tracing, metrics  one command run: logs, exports, a session

Layers report into a :class:`~voice_agent_cli.observe.metrics.Metrics` registry
they are handed (the agent's observer, the room session, the breakers), and
read the typed events of :mod:`voice_agent_cli.contracts.events`. Modules are
imported by name (``from voice_agent_cli.observe import metrics``); this
package imports nothing, so ``va --help`` pays for none of it.
"""
