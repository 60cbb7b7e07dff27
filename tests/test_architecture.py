"""The import graph of ``voice_agent_cli``: no circles, and arrows that point one way.

docs/architecture.md draws the layers; this test is what keeps the drawing true.
It reads every module's imports with :mod:`ast` (nothing is imported), counting
module-level imports and imports inside functions alike (both are run-time
dependencies); imports under ``if TYPE_CHECKING:`` are left out, since only the
type checker follows them.

A known exception is written down in :data:`ALLOWED`, with the reason, so the
list only ever shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "voice_agent_cli"

#: The layers, lowest first. A module may import its own layer and the ones below.
#: A module is placed by the longest dotted prefix listed (``core.build`` before ``core``).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # What every layer may import: the error tree, small value types and helpers, and
    # the registry providers plug into (it names them; it imports none of them).
    (
        "contracts",
        (
            "",
            "contracts",
            "errors",
            "text",
            "paths",
            "section",
            "masking",
            "providers",
            "providers.base",
            "providers.registry",
        ),
    ),
    # Ids, redaction, logs, traces, metrics: everyone reports, nobody is reported to.
    ("observe", ("observe", "privacy")),
    # Retries, breakers, rate limits, the shared Redis.
    ("resilience", ("resilience", "ratelimit", "ratelimit_slots", "shared_redis")),
    # What the agent talks to: LLM providers, tools, the response buffer, session stores.
    ("services", ("llm", "tools", "buffer")),
    ("core", ("core",)),
    # Stored conversations (a session holds the core's Conversation).
    ("sessions", ("sessions",)),
    ("speech", ("speech",)),
    ("rooms", ("rooms",)),
    # Composition: settings from profiles, and what builds the layers from them.
    (
        "wiring",
        (
            "config",
            "providers.builtin_llm",
            "providers.builtin_speech",
            "providers.chain",
            "providers.survey",
            "compose",
            "bench.settings",  # the [bench] section, and the budget grammar it validates
            "bench._budgets",
        ),
    ),
    # What a user runs: the commands, their screens, benchmarks, evals, test doubles.
    ("surface", ("cli", "ui", "bench", "evals", "testing")),
]

#: Known exceptions, (importer, imported) -> why. Shrinks; never grows without a reason.
ALLOWED: dict[tuple[str, str], str] = {}

#: Import circles left, each as the sorted tuple of its modules -> why.
ALLOWED_CYCLES: dict[tuple[str, ...], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports at run time (relative to the package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.update(_ours(alias.name, modules))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".") if package else []
                    base = base[: len(base) - child.level + 1]
                    target = ".".join([*base, child.module or ""]).strip(".")
                    target = f"voice_agent_cli.{target}".rstrip(".")
                else:
                    target = child.module or ""
                for alias in child.names:
                    submodule = _ours(f"{target}.{alias.name}", modules)
                    found.update(submodule or _ours(target, modules))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(name)
    return found


def _ours(dotted: str, modules: dict[str, Path]) -> set[str]:
    if dotted != "voice_agent_cli" and not dotted.startswith("voice_agent_cli."):
        return set()
    short = dotted.removeprefix("voice_agent_cli").removeprefix(".")
    return {short} if short in modules else set()


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> int:
    best, best_length = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or (prefix and module.startswith(prefix + "."))
            if prefix == "" and module == "":
                matches = True
            if matches and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    return best


def _cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(name for name in _modules() if _layer(name) < 0)
    assert unplaced == [], f"modules in no layer (add them to LAYERS): {unplaced}"


def test_no_import_circles() -> None:
    cycles = [cycle for cycle in _cycles(_graph()) if cycle not in ALLOWED_CYCLES]
    assert cycles == [], f"import circles: {cycles}"


def test_lower_layers_never_import_higher_ones() -> None:
    upward = []
    for module, imported in sorted(_graph().items()):
        for target in sorted(imported):
            if _layer(target) > _layer(module) and (module, target) not in ALLOWED:
                upward.append(
                    f"{module} ({LAYERS[_layer(module)][0]}) -> "
                    f"{target} ({LAYERS[_layer(target)][0]})"
                )
    assert upward == [], "imports against the layers:\n" + "\n".join(upward)


def test_allowed_exceptions_are_still_needed() -> None:
    """An exception that no longer happens is struck off, so the lists only shrink."""
    graph = _graph()
    fixed = [pair for pair in ALLOWED if pair[1] not in graph.get(pair[0], set())]
    assert fixed == [], f"fixed, remove from ALLOWED: {fixed}"
    cycles = set(_cycles(graph))
    gone = [cycle for cycle in ALLOWED_CYCLES if cycle not in cycles]
    assert gone == [], f"fixed, remove from ALLOWED_CYCLES: {gone}"
