"""Tool names: ``server__tool`` for the LLM, ``server.tool`` for people.

Two servers may both have a ``search`` tool, so every tool is namespaced by
its server. LLM function names must match ``^[A-Za-z_][A-Za-z0-9_]{0,63}$``
(Gemini's rule, also fine for llama.cpp grammars), while MCP tool names may
hold dots, dashes and slashes and be longer: :class:`ToolNames` maps between
the two, keeping names readable and unique.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from voice_agent_cli.errors import UsageError

LLM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_INVALID = re.compile(r"[^A-Za-z0-9_]")
_MAX = 64
SEPARATOR = "__"


@dataclass(frozen=True, order=True)
class QualifiedName:
    """A tool of a server: what the CLI writes ``SERVER.TOOL``."""

    server: str
    tool: str

    def __str__(self) -> str:
        return f"{self.server}.{self.tool}"

    @classmethod
    def parse(cls, text: str) -> QualifiedName:
        """Read ``SERVER.TOOL`` (the tool part may itself hold dots)."""
        server, dot, tool = text.partition(".")
        if not dot or not server or not tool:
            raise UsageError(f"name the tool as SERVER.TOOL (e.g. va.now), not {text!r}")
        return cls(server, tool)


def llm_name(server: str, tool: str) -> str:
    """The preferred LLM-facing name of ``server.tool`` (before de-duplication)."""
    name = _INVALID.sub("_", f"{server}{SEPARATOR}{tool}")
    if not re.match(r"[A-Za-z_]", name):
        name = f"_{name}"
    if len(name) > _MAX:
        name = _with_suffix(name, f"{server}.{tool}")
    return name


def _with_suffix(name: str, key: str) -> str:
    digest = hashlib.sha1(key.encode()).hexdigest()[:6]
    return f"{name[: _MAX - 7]}_{digest}"


class ToolNames:
    """A two-way map between LLM names and qualified names, unique within one tool set."""

    def __init__(self, names: Iterable[QualifiedName]) -> None:
        self._by_llm: dict[str, QualifiedName] = {}
        self._by_qualified: dict[QualifiedName, str] = {}
        for qualified in names:
            candidate = llm_name(qualified.server, qualified.tool)
            if candidate in self._by_llm:
                # e.g. "a.b" and "a_b" both sanitise to "srv__a_b": the second gets a hash.
                candidate = _with_suffix(candidate, str(qualified))
            self._by_llm[candidate] = qualified
            self._by_qualified[qualified] = candidate

    def llm(self, qualified: QualifiedName) -> str:
        """The LLM-facing name of a tool."""
        return self._by_qualified[qualified]

    def qualified(self, name: str) -> QualifiedName | None:
        """The tool an LLM name (or a ``SERVER.TOOL`` name) stands for, if any."""
        found = self._by_llm.get(name)
        if found is not None:
            return found
        server, dot, tool = name.partition(".")
        if dot and QualifiedName(server, tool) in self._by_qualified:
            return QualifiedName(server, tool)
        return None
