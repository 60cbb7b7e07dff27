"""The flags every command that drives the agent takes, declared once.

``va chat``, ``va talk``, ``va join`` and ``va serve`` all choose an LLM
(``--llm``, ``--model``, ``--system``), a profile, and what to observe (logs,
Prometheus, OpenTelemetry, a metrics file). Rather than repeat nine parameters
and the code that turns them into settings in each command, a command asks for
one ``flags: AgentFlags`` parameter and is decorated with :func:`agent_command`::

    @agent_command
    def talk(inputs: list[Path] = typer.Option(...), *, flags: AgentFlags) -> None:
        settings = flags.settings({"tts.voice": ...})
        with observe_command(settings, "talk", metrics_json=flags.metrics_json): ...

Typer reads the decorated function's signature, in which ``flags`` is replaced
by the nine options: ``va talk --help`` lists them as before, after the
command's own.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voice_agent_cli.cli import observability
from voice_agent_cli.cli.common import LLMOption, ModelOption, ProfileOption, SystemOption, load

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings


@dataclass(frozen=True)
class AgentFlags:
    """Which LLM and profile to use, and what to observe: the shared flags, as given."""

    llm: str | None = None
    model: str | None = None
    system: str | None = None
    profile: str | None = None
    log_level: str | None = None
    log_format: str | None = None
    metrics_port: int | None = None
    otel: str | None = None
    metrics_json: Path | None = None

    def overrides(self, command: Mapping[str, object] | None = None) -> dict[str, object]:
        """Dotted profile keys for these flags and the ``command``'s own (``None``: not given)."""
        return {
            "llm.provider": self.llm,
            "llm.system_prompt": self.system,
            **(command or {}),
            **observability.overrides(
                self.log_level, self.log_format, self.metrics_port, self.otel
            ),
        }

    def settings(self, command: Mapping[str, object] | None = None) -> Settings:
        """The effective settings: these flags and the command's, over VA_* env and the profile."""
        return load(self.profile, self.overrides(command), model=self.model)


#: The options behind each field of :class:`AgentFlags`, in ``--help`` order.
_OPTIONS: dict[str, Any] = {
    "llm": LLMOption,
    "model": ModelOption,
    "system": SystemOption,
    "profile": ProfileOption,
    "log_level": observability.LogLevelOption,
    "log_format": observability.LogFormatOption,
    "metrics_port": observability.MetricsPortOption,
    "otel": observability.OtelOption,
    "metrics_json": observability.MetricsJsonOption,
}

_Command = Callable[..., None]


def agent_command(command: _Command) -> _Command:
    """``command`` with its ``flags`` parameter spread into the shared Typer options."""
    hints = typing.get_type_hints(command)
    flag_hints = typing.get_type_hints(AgentFlags)
    own = [
        parameter.replace(annotation=hints.get(name, parameter.annotation))
        for name, parameter in inspect.signature(command).parameters.items()
        if name != "flags"
    ]
    shared = [
        inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=_OPTIONS[field.name],
            annotation=flag_hints[field.name],
        )
        for field in fields(AgentFlags)
    ]
    names = {field.name for field in fields(AgentFlags)}

    def run(**given: Any) -> None:
        flags = AgentFlags(**{name: given.pop(name) for name in names})
        command(**given, flags=flags)

    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared
    run.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
        setattr(run, attribute, getattr(command, attribute))
    return run


__all__ = ["AgentFlags", "agent_command"]
