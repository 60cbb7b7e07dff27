"""Every library the package imports is a pinned dependency, so a fresh install has it."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import voice_agent_cli

PACKAGE = Path(voice_agent_cli.__file__).parent
#: Imported only by optional engines, from the extras that install them.
OPTIONAL_IMPORTS = {"whisper": "openai-whisper"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_level_modules() -> set[str]:
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "voice_agent_cli"}


def _declared() -> dict[str, str]:
    """Declared requirement name -> its specifier text (extras included)."""
    declared = {}
    for requirement in metadata.requires("voice-agent-cli") or []:
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        declared[_canonical(name)] = requirement
    return declared


def test_every_imported_library_is_declared_and_pinned() -> None:
    declared = _declared()
    owners = metadata.packages_distributions()
    missing = []
    for module in sorted(_imported_top_level_modules()):
        if module in OPTIONAL_IMPORTS:
            assert _canonical(OPTIONAL_IMPORTS[module]) in declared, module
            continue
        distributions = {_canonical(d) for d in owners.get(module, [])}
        if not distributions & set(declared):
            missing.append(f"{module} (from {sorted(distributions) or 'nowhere'})")
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    unpinned = [req for req in declared.values() if "==" not in req]
    assert not unpinned, f"direct dependencies must be pinned: {unpinned}"
