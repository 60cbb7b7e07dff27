"""Finding and running scenarios: any module ``voice_agent_cli.bench.<name>`` with ``run``.

Discovery reads the package's module names without importing them (so a
scenario whose dependencies are missing does not break the others); a module
is imported only when its scenario runs or is described. Private modules
(``_runner``, ``_report`` ...) are never scenarios.

Each scenario runs on its own event loop with its own metrics registry, so a
task or a counter left behind by one cannot disturb the next.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import pkgutil
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from voice_agent_cli import bench
from voice_agent_cli.bench import BenchOptions, ScenarioRun
from voice_agent_cli.errors import EXIT_FAILURE, DependencyUnavailable, UsageError, VAError
from voice_agent_cli.observe import ids, metrics, redaction

logger = logging.getLogger("va.bench")

Scenario = Callable[[BenchOptions], Coroutine[Any, Any, ScenarioRun]]

#: Public modules of the bench package that are not scenarios: ``settings`` is the
#: ``[bench]`` profile section, which config.py imports.
NOT_SCENARIOS = frozenset({"settings"})


def available() -> list[str]:
    """Names of every scenario module, sorted."""
    return sorted(
        module.name
        for module in pkgutil.iter_modules(bench.__path__)
        if not module.name.startswith("_") and module.name not in NOT_SCENARIOS
    )


def check_names(names: list[str]) -> None:
    """Refuse unknown scenario names, saying which ones exist."""
    known = available()
    unknown = [name for name in names if name not in known]
    if unknown:
        listed = ", ".join(unknown)
        raise UsageError(
            f"unknown bench scenario{'s' if len(unknown) > 1 else ''}: {listed} "
            f"(available: {', '.join(known) or 'none'})"
        )


def _module(name: str) -> ModuleType:
    check_names([name])
    try:
        return importlib.import_module(f"{bench.__name__}.{name}")
    except ImportError as exc:
        raise DependencyUnavailable(f"bench scenario {name} cannot be loaded: {exc}") from None


def load(name: str) -> Scenario:
    """The ``run`` coroutine function of scenario ``name``."""
    run = getattr(_module(name), "run", None)
    if run is None or not inspect.iscoroutinefunction(run):
        raise UsageError(f"{name} is not a bench scenario (it has no `async def run(options)`)")
    return run


def describe(name: str) -> str:
    """The first line of the scenario's docstring (or why it cannot be loaded)."""
    try:
        doc = inspect.getdoc(_module(name)) or ""
    except VAError as exc:
        return f"(unavailable: {exc})"
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    prefix = f"Bench scenario ``{name}``:"
    return first.removeprefix(prefix).strip() or "(no description)"


@dataclass
class ScenarioOutcome:
    """What one scenario produced, or why it failed."""

    name: str
    run: ScenarioRun | None
    seconds: float
    error: str | None = None
    exit_code: int = 0


def run_scenario(name: str, options: BenchOptions) -> ScenarioOutcome:
    """Run scenario ``name`` on a fresh event loop; failures become an outcome, not a raise."""
    started = time.perf_counter()
    try:
        scenario = load(name)
        with metrics.use(metrics.Metrics()), ids.session_scope():
            logger.info("bench scenario %s started", name, extra={"scenario": name})
            result = asyncio.run(scenario(options))
        if not isinstance(result, ScenarioRun):
            raise VAError(f"scenario {name} returned {type(result).__name__}, not a ScenarioRun")
        _check_samples(name, result)
    except VAError as exc:
        logger.info("bench scenario %s failed: %s", name, exc)
        return ScenarioOutcome(name, None, time.perf_counter() - started, str(exc), exc.exit_code)
    except Exception as exc:  # a scenario's bug must not end the whole run with a traceback
        # The report says what failed; the traceback is for the DEBUG log, not the screen.
        logger.debug("bench scenario %s failed unexpectedly", name, exc_info=True)
        message = redaction.redact(f"failed unexpectedly ({type(exc).__name__}: {exc})")
        return ScenarioOutcome(name, None, time.perf_counter() - started, message, EXIT_FAILURE)
    seconds = time.perf_counter() - started
    logger.info("bench scenario %s done in %.1f s", name, seconds, extra={"scenario": name})
    return ScenarioOutcome(name, result, seconds)


def _check_samples(name: str, result: ScenarioRun) -> None:
    for stage, samples in result.stages.items():
        if any(not isinstance(value, int | float) or value < 0 for value in samples):
            raise VAError(f"scenario {name} reported a bad sample for stage {stage!r}")
    if "stages" in result.figures:
        raise VAError(f"scenario {name} has a figure called 'stages', which the report reserves")
