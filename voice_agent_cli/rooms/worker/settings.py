"""The ``[serve]`` profile section: how a ``va serve`` worker takes jobs (docs/livekit.md)."""

from __future__ import annotations

from pydantic import Field

from voice_agent_cli.section import Section


class ServeSettings(Section):
    """A LiveKit agent worker: its name, its capacity, its drain."""

    agent_name: str = Field(
        "",
        description="empty = automatic dispatch (every new room); a name = only explicit "
        "dispatches to that name",
    )
    max_jobs: int = Field(4, ge=1, le=1000, description="rooms at once; more offers are declined")
    load_threshold: float = Field(
        0.75,
        gt=0,
        le=1,
        description="offers are declined while CPU use is above this (1 = never, and the "
        "load reported is then the share of job slots taken)",
    )
    identity_prefix: str = Field(
        "va-agent", min_length=1, description="the agent's identity in a job's room: PREFIX-JOBID"
    )
    status_interval_s: float = Field(2.5, gt=0, le=60, description="how often load is reported")
    assignment_timeout_s: float = Field(
        7.5, gt=0, description="an accepted offer not assigned by then frees its slot"
    )
    drain_timeout_s: float = Field(
        90.0, gt=0, description="on SIGTERM, how long running jobs get to finish their turns"
    )
    stop_timeout_s: float = Field(
        10.0, gt=0, description="how long a job the server ended gets to leave its room"
    )
    connect_timeout_s: float = Field(10.0, gt=0, description="connecting and registering")
    reconnect_base_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(10.0, gt=0)
    reconnect_jitter: float = Field(0.5, ge=0, le=1)
    reconnect_attempts: int = Field(
        16, ge=0, description="in a row, after the first registration; then va serve gives up"
    )
