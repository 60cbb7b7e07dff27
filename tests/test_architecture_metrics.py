"""The metrics registry is handed down, never looked up, below the entry points.

``metrics.current()`` and ``metrics.use()`` say which registry is in force: a
command, ``open_agent`` and ``va bench`` ask, and pass it to what they build
(the agent, a room, an LLM's ``report_to``, the xrun counter). A layer below
that looked the registry up itself would report into whatever happened to be
in force, a hidden global; this test reads the source (nothing is imported)
and fails on such a call.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "voice_agent_cli"

#: Where the registry in force may be asked for: the entry points and the command setup.
ENTRY_POINTS = ("cli/", "bench/", "compose/", "testing/", "observe/command.py", "observe/metrics/")

LOOKUPS = {"current", "use"}


def _lookups(path: Path) -> list[int]:
    """Lines of ``path`` that call ``metrics.current()`` / ``metrics.use()`` (any alias)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    aliases = {"metrics"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "voice_agent_cli.observe":
            aliases |= {
                alias.asname or alias.name for alias in node.names if alias.name == "metrics"
            }
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LOOKUPS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in aliases
        ):
            lines.append(node.lineno)
    return lines


def test_only_entry_points_look_up_the_registry_in_force() -> None:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(ENTRY_POINTS):
            continue
        lines = _lookups(path)
        if lines:
            found[relative] = lines
    assert found == {}, f"pass the registry down instead of looking it up: {found}"


def test_the_scan_sees_a_lookup_under_an_alias(tmp_path: Path) -> None:
    module = tmp_path / "layer.py"
    module.write_text(
        "from voice_agent_cli.observe import metrics as m\n\n\n"
        "def f():\n    m.current().increment('x')\n"
    )
    assert _lookups(module) == [5]
