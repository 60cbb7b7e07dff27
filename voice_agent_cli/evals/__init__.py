"""``va eval``: scripted conversations with expectations, run offline against the agent.

- :mod:`~voice_agent_cli.evals.cases`: the TOML format of a case and its loader;
- :mod:`~voice_agent_cli.evals.runner`: runs cases, a fresh agent and home each;
- :mod:`~voice_agent_cli.evals.checks`: expectations against what a turn produced;
- :mod:`~voice_agent_cli.evals.results` and :mod:`~voice_agent_cli.evals.junit`:
  the report as data, JSON and JUnit XML.
"""

from voice_agent_cli.evals.cases import EvalCase, EvalTurn, load_cases
from voice_agent_cli.evals.junit import junit_xml, write_junit
from voice_agent_cli.evals.results import CaseResult, EvalReport, TurnOutcome
from voice_agent_cli.evals.runner import EvalRunner

__all__ = [
    "CaseResult",
    "EvalCase",
    "EvalReport",
    "EvalRunner",
    "EvalTurn",
    "TurnOutcome",
    "junit_xml",
    "load_cases",
    "write_junit",
]
