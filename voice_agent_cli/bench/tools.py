"""Bench scenario ``tools``: MCP servers started and called for real.

Stages (milliseconds):

- ``discovery``: from starting the profile's servers (in parallel) to every
  one up with its tools listed: process start, MCP handshake, ``tools/list``.
  Each server's own start-up time is a stage too (``discovery:<server>``);
  target: under 1 s per local stdio server. Every sample starts fresh
  processes, so this stage takes at most 5 samples (plus one warm-up);
- ``call_overhead``: one call of a trivial tool (va's ``now``), through
  :class:`~voice_agent_cli.tools.mcp.MCPTools`: what a tool call costs beyond
  the tool's own work;
- ``concurrent_5``: five such calls at once, until the last one returns.

Figures name the servers and the tools each one listed. Servers that fail to
start are reported in the figures, not raised: a bench run always finishes.
"""

from __future__ import annotations

import asyncio
import time

from voice_agent_cli.bench import BenchOptions, ScenarioRun
from voice_agent_cli.config import load_settings
from voice_agent_cli.contracts.messages import ToolCall
from voice_agent_cli.tools.health import HealthState
from voice_agent_cli.tools.mcp import MCPTools
from voice_agent_cli.tools.settings import MCPServerSettings, MCPSettings

#: va's own server, for the call stages when the profile does not start it.
SHIPPED_SERVER = MCPServerSettings(
    command="${VA_PYTHON}", args=["-m", "voice_agent_cli.tools.server"], idempotent=["now"]
)
MAX_DISCOVERY_SAMPLES = 5
CONCURRENT_CALLS = 5


async def run(options: BenchOptions) -> ScenarioRun:
    """Measure MCP discovery and call overhead (see the module doc)."""
    profile = load_settings(options.profile).profile
    result = ScenarioRun()
    servers = profile.mcp.enabled_servers()
    result.figures["servers"] = {}
    if servers:
        await _discovery(profile.mcp, options, result)
    own = servers.get("va", SHIPPED_SERVER)
    await _calls(MCPSettings(servers={"va": own}), options, result)
    return result


async def _discovery(settings: MCPSettings, options: BenchOptions, result: ScenarioRun) -> None:
    samples = min(options.iterations, MAX_DISCOVERY_SAMPLES)
    for index in range(1 + samples):  # the first start warms the OS file cache
        began = time.perf_counter()
        async with MCPTools(settings) as tools:
            elapsed = (time.perf_counter() - began) * 1000
            statuses = tools.health()
            if index == 0:
                continue
            result.sample("discovery", elapsed)
            for status in statuses:
                result.figures["servers"][status.server] = {
                    "state": str(status.state),
                    "tools": status.tools,
                    "last_error": status.last_error,
                }
                if status.state == HealthState.UP and status.startup_ms is not None:
                    result.sample(f"discovery:{status.server}", status.startup_ms)


async def _calls(settings: MCPSettings, options: BenchOptions, result: ScenarioRun) -> None:
    async with MCPTools(settings) as tools:
        if not tools.connection("va").up:
            result.figures["call_error"] = tools.health()[0].last_error
            return
        call = ToolCall(id="bench", name="va__now", arguments={})
        for index in range(options.warmup + options.iterations):
            began = time.perf_counter()
            outcome = await tools.call(call)
            elapsed = (time.perf_counter() - began) * 1000
            if outcome.is_error:
                result.figures["call_error"] = outcome.text
                return
            if index >= options.warmup:
                result.sample("call_overhead", elapsed)
        for index in range(options.warmup + options.iterations):
            began = time.perf_counter()
            outcomes = await asyncio.gather(*(tools.call(call) for _ in range(CONCURRENT_CALLS)))
            elapsed = (time.perf_counter() - began) * 1000
            if any(outcome.is_error for outcome in outcomes):
                result.figures["call_error"] = next(o.text for o in outcomes if o.is_error)
                return
            if index >= options.warmup:
                result.sample(f"concurrent_{CONCURRENT_CALLS}", elapsed)
