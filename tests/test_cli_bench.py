"""``va bench`` run whole through the CLI: the JSON schema, budgets, comparison, discovery."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import run_va, run_va_process
from tests.gemini_fixtures import TEST_KEY
from tests.openai_fixtures import TEST_KEY as OPENAI_KEY
from voice_agent_cli import bench
from voice_agent_cli.testing.fake_gemini import FakeGemini
from voice_agent_cli.testing.fake_openai import FakeOpenAI

STAGE_KEYS = {"n", "p50_ms", "p95_ms", "p99_ms", "mean_ms"}


@pytest.fixture
def quick_profile(tmp_path: Path) -> str:
    """Few, fast concurrent sessions, so that a whole bench takes a second."""
    path = tmp_path / "quick.toml"
    path.write_text("[bench]\nsessions = 3\nfake_llm_latency_ms = 5\n")
    return str(path)


def bench_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    result = run_va("bench", *args, "--json", env=env)
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_json_report_has_the_stable_schema(quick_profile: str) -> None:
    code, report, stderr = bench_json(
        "concurrency", "gemini", "-n", "3", "-w", "1", "--profile", quick_profile
    )
    assert code == 0, stderr
    assert report["version"] == 1
    assert list(report["scenarios"]) == ["concurrency", "gemini"]
    for scenario in report["scenarios"].values():
        assert scenario["stages"]
        for figures in scenario["stages"].values():
            assert set(figures) >= STAGE_KEYS
            assert isinstance(figures["n"], int)
            assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    gemini = report["scenarios"]["gemini"]
    assert set(gemini["stages"]) == {"llm_ttft", "total", "provider_ttft", "va_overhead"}
    assert gemini["stages"]["total"]["n"] == 3  # the warm-up run is not reported
    assert gemini["target"].startswith("a local FakeGemini started by the bench")
    concurrency = report["scenarios"]["concurrency"]
    assert concurrency["stages"]["total"]["n"] == 3 * 3  # sessions x iterations
    assert concurrency["sessions"] == 3
    assert concurrency["throughput_turns_per_s"] > 0
    assert concurrency["memory_per_session_kb"] > 0
    assert concurrency["stages"]["va_overhead"]["n"] == 3 * 3
    assert concurrency["llm"] == "fake:scripted"
    assert report["options"] == {"iterations": 3, "warmup": 1, "percentiles": [50.0, 95.0, 99.0]}
    assert "[1/2] concurrency done in" in stderr and "[2/2] gemini done in" in stderr


def test_gemini_goes_to_the_base_url_with_the_key_from_the_environment(
    fake_gemini: FakeGemini,
) -> None:
    env = {"GEMINI_API_KEY": TEST_KEY, "GOOGLE_GEMINI_BASE_URL": fake_gemini.base_url}
    result = run_va("bench", "gemini", "-n", "2", "-w", "1", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["scenarios"]["gemini"]["target"] == f"base URL {fake_gemini.base_url}"
    assert len(fake_gemini.requests) == 3  # one warm-up and two measured turns
    assert TEST_KEY not in result.stdout + result.stderr


def test_a_missed_budget_exits_4_and_says_which(quick_profile: str) -> None:
    code, report, stderr = bench_json(
        "gemini",
        "-n",
        "2",
        "-w",
        "0",
        "--budget",
        "total=60000",
        "--budget",
        "gemini.llm_ttft:p99=0.0001",
        "--budget",
        "e2e_latency=500",
        "--profile",
        quick_profile,
    )
    assert code == 4
    statuses = {entry["budget"]: entry["status"] for entry in report["budgets"]}
    assert statuses == {
        "total:p95": "ok",
        "gemini.llm_ttft:p99": "missed",
        "e2e_latency:p95": "not measured",
    }
    assert "va: latency budget missed: gemini.llm_ttft p99" in stderr
    assert "> 0.0001 ms" in stderr


def test_budgets_in_the_profile_gate_too(tmp_path: Path) -> None:
    profile = tmp_path / "gated.toml"
    profile.write_text(
        '[bench]\nbudget_percentile = 50\n[bench.budgets]\n"gemini.total" = 0.0001\n'
    )
    code, report, _ = bench_json("gemini", "-n", "2", "-w", "0", "--profile", str(profile))
    assert code == 4
    assert report["budgets"][0]["budget"] == "gemini.total:p50"
    # A flag for the same target replaces the profile's budget.
    code, report, _ = bench_json(
        "gemini", "-n", "2", "-w", "0", "--profile", str(profile), "-b", "gemini.total:p50=60000"
    )
    assert code == 0
    assert [entry["status"] for entry in report["budgets"]] == ["ok"]


def test_compare_shows_the_change_against_a_saved_run(tmp_path: Path, quick_profile: str) -> None:
    saved = tmp_path / "before.json"
    first = run_va("bench", "gemini", "-n", "2", "-w", "0", "--save", str(saved))
    assert first.exit_code == 0, first.stderr
    assert "va bench" in first.stdout and "llm_ttft" in first.stdout  # the table
    before = json.loads(saved.read_text())

    code, report, _ = bench_json("gemini", "-n", "2", "-w", "0", "--compare", str(saved))
    assert code == 0
    comparison = report["comparison"]
    assert comparison["against"] == str(saved)
    change = comparison["scenarios"]["gemini"]["total"]["p95_ms"]
    assert change["before"] == before["scenarios"]["gemini"]["stages"]["total"]["p95_ms"]
    assert change["after"] == report["scenarios"]["gemini"]["stages"]["total"]["p95_ms"]
    assert change["change_ms"] == pytest.approx(change["after"] - change["before"], abs=0.002)

    text = run_va("bench", "gemini", "-n", "2", "-w", "0", "--compare", str(saved))
    assert "p95 change" in text.stdout and f"compared with {saved}" in text.stdout


def test_compare_refuses_what_is_not_a_report(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"hello": 1}')
    result = run_va("bench", "gemini", "--compare", str(bogus))
    assert result.exit_code == 2
    assert "is not a `va bench --json` report" in result.stderr


def test_extra_percentiles_are_added_to_the_fixed_ones() -> None:
    code, report, _ = bench_json("gemini", "-n", "4", "-w", "0", "--percentiles", "90,99.9")
    assert code == 0
    figures = report["scenarios"]["gemini"]["stages"]["total"]
    assert {"p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms", "mean_ms"} <= set(figures)


def test_unknown_scenarios_and_bad_budgets_are_usage_errors() -> None:
    result = run_va("bench", "chat", "warp-speed")
    assert result.exit_code == 2
    assert "unknown bench scenario: warp-speed (available: " in result.stderr
    assert "chat" in result.stderr and "concurrency" in result.stderr
    result = run_va("bench", "gemini", "--budget", "fast")
    assert result.exit_code == 2
    assert "bad budget 'fast'" in result.stderr


def test_list_describes_every_scenario() -> None:
    result = run_va("bench", "--list", "--json")
    assert result.exit_code == 0
    described = json.loads(result.stdout)["scenarios"]
    assert {"chat", "concurrency", "gemini", "openai"} <= set(described)
    assert "embedded local LLM" in described["chat"]


@pytest.fixture
def extra_scenarios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A second directory of scenario modules, as another team's modules would appear."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    monkeypatch.setattr(bench, "__path__", [*bench.__path__, str(folder)])
    yield folder
    for name in [name for name in sys.modules if name.startswith("voice_agent_cli.bench.x_")]:
        del sys.modules[name]


def test_any_scenario_module_is_discovered_and_run(extra_scenarios: Path) -> None:
    (extra_scenarios / "x_echo.py").write_text(
        '"""Bench scenario ``x_echo``: reports what it was asked."""\n'
        "from voice_agent_cli.bench import BenchOptions, ScenarioRun\n"
        "async def run(options: BenchOptions) -> ScenarioRun:\n"
        "    result = ScenarioRun(figures={'asked': options.iterations})\n"
        "    for index in range(options.iterations):\n"
        "        result.sample('prebuffered', float(index + 1))\n"
        "    return result\n"
    )
    (extra_scenarios / "x_broken.py").write_text(
        "async def run(options):\n    raise RuntimeError('boom')\n"
    )
    code, report, stderr = bench_json("x_echo", "x_broken", "-n", "4", "-w", "2")
    assert code == 1
    echo = report["scenarios"]["x_echo"]
    assert echo["asked"] == 4
    assert echo["stages"]["prebuffered"] == {
        "n": 4,
        "p50_ms": 2.5,
        "p95_ms": 3.85,
        "p99_ms": 3.97,
        "mean_ms": 2.5,
    }
    broken = report["scenarios"]["x_broken"]
    assert broken["stages"] == {}
    assert broken["error"] == "failed unexpectedly (RuntimeError: boom)"
    assert "va: bench scenario failed: x_broken" in stderr
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_chat_measures_the_embedded_model() -> None:
    # A real process, as `make bench` runs it (and llama.cpp's stdio handling stays out
    # of the test process).
    result = run_va_process("bench", "chat", "-n", "2", "-w", "1", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    chat = report["scenarios"]["chat"]
    assert set(chat["stages"]) == {"llm_ttft", "total", "provider_ttft", "va_overhead"}
    assert chat["stages"]["llm_ttft"]["n"] == 2
    assert chat["llm"].startswith("local:")
    assert chat["max_output_tokens"] == 64


def test_degraded_turns_are_never_measured_as_llm_turns() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "GEMINI_API_KEY": TEST_KEY,
        "GOOGLE_GEMINI_BASE_URL": f"http://127.0.0.1:{port}",
        "VA_LLM__MAX_RETRIES": "0",
    }
    code, report, stderr = bench_json("gemini", "-n", "2", "-w", "0", env=env)
    assert code == 3  # a dependency is unavailable
    gemini = report["scenarios"]["gemini"]
    assert gemini["stages"] == {}
    assert f"cannot reach Gemini at 127.0.0.1:{port}" in gemini["error"]
    assert TEST_KEY not in json.dumps(report) + stderr


def test_va_overhead_is_what_va_adds_to_the_providers_own_ttft(quick_profile: str) -> None:
    code, report, stderr = bench_json("openai", "-n", "4", "-w", "1", "--profile", quick_profile)
    assert code == 0, stderr
    openai = report["scenarios"]["openai"]
    assert openai["target"].startswith("a local FakeOpenAI started by the bench")
    stages = openai["stages"]
    assert {"llm_ttft", "total", "provider_ttft", "va_overhead"} <= set(stages)
    assert stages["va_overhead"]["n"] == 4
    # va's share is a part of what the caller waited for, never more. (Not compared with
    # llm_ttft: that is timed from the LLM request, after the buffer lookup and routing,
    # which va_overhead includes; under load the two medians crossed.)
    assert stages["va_overhead"]["p50_ms"] < stages["total"]["p50_ms"]


def test_openai_goes_to_the_profiles_server(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    profile = tmp_path / "server.toml"
    profile.write_text(f'[openai]\nbase_url = "{fake_openai.base_url}"\nmodel = "served-model"\n')
    env = {"OPENAI_API_KEY": OPENAI_KEY}
    code, report, stderr = bench_json(
        "openai", "-n", "2", "-w", "1", "--profile", str(profile), env=env
    )
    assert code == 0, stderr
    assert report["scenarios"]["openai"]["target"] == f"base URL {fake_openai.base_url}"
    assert {r.model for r in fake_openai.requests} == {"served-model"}
    assert len(fake_openai.requests) == 3


def test_concurrency_can_share_the_profiles_llm_server(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    profile = tmp_path / "sessions.toml"
    profile.write_text(
        '[bench]\nsessions = 4\nconcurrency_llm = "profile"\n'
        f'[llm]\nprovider = "openai"\n[openai]\nbase_url = "{fake_openai.base_url}"\n'
        'model = "fake-model"\n'
    )
    env = {"OPENAI_API_KEY": OPENAI_KEY}
    code, report, stderr = bench_json(
        "concurrency", "-n", "2", "-w", "1", "--profile", str(profile), env=env
    )
    assert code == 0, stderr
    concurrency = report["scenarios"]["concurrency"]
    assert concurrency["llm"] == "openai:fake-model"
    assert concurrency["stages"]["llm_ttft"]["n"] == 4 * 2
    assert concurrency["throughput_turns_per_s"] > 0
    assert concurrency["memory_per_session_kb"] is None  # measured with the fake only
    # baseline (1 warm-up + 2) + 4 sessions x (1 warm-up + 2)
    assert len(fake_openai.requests) == 3 + 4 * 3


def test_every_listed_scenario_is_one() -> None:
    """`va bench` with no names runs what discovery lists: each must have `run(options)`.

    (A public helper module in bench/, such as its settings, once made CI's bench fail.)
    """
    import importlib

    from voice_agent_cli.bench._runner import available

    names = available()
    assert "voice" in names and "settings" not in names
    for name in names:
        module = importlib.import_module(f"voice_agent_cli.bench.{name}")
        assert callable(getattr(module, "run", None)), name
