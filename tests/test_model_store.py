"""The model catalogue and the shared model store: names, paths, checksums, concurrency."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from voice_agent_cli.config import load_settings
from voice_agent_cli.errors import ConfigError, ModelUnavailable
from voice_agent_cli.llm.catalogue import (
    DEFAULT_MODEL,
    MODELS,
    QWEN_CODER_05B,
    QWEN_CODER_15B,
    resolve_model,
)
from voice_agent_cli.llm.model_files import ChunkedModel, assemble, is_assembled
from voice_agent_cli.paths import models_dir

CHUNKS = [b"first chunk of a model, ", b"the second one, ", b"and the last."]


@pytest.fixture
def chunk_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ChunkedModel:
    """Three importable chunk packages shaped like the real ones (data/partNN.bin)."""
    root = tmp_path / "site"
    for number, data in enumerate(CHUNKS, start=1):
        package = root / f"fake_model_part{number}"
        (package / "data").mkdir(parents=True)
        (package / "data" / f"part{number:02d}.bin").write_bytes(data)
        (package / "__init__.py").write_text(
            textwrap.dedent(
                f"""
                import os
                def get_part_path():
                    here = os.path.dirname(os.path.abspath(__file__))
                    return os.path.join(here, "data", "part{number:02d}.bin")
                """
            )
        )
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("VA_MODELS_DIR", str(tmp_path / "store"))
    whole = b"".join(CHUNKS)
    return ChunkedModel(
        filename="fake.gguf",
        modules=tuple(f"fake_model_part{n}" for n in range(1, len(CHUNKS) + 1)),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        licence_note="",
    )


def test_the_catalogue_names_both_shipped_models_and_a_default() -> None:
    assert set(MODELS) == {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    assert DEFAULT_MODEL in MODELS
    assert QWEN_CODER_15B.file.size == 1_117_320_768
    assert len(QWEN_CODER_15B.file.modules) == 22
    assert len(QWEN_CODER_05B.file.modules) == 6
    assert all("Apache-2.0" in model.licence for model in MODELS.values())


def test_a_model_is_chosen_by_name_by_path_or_by_default(tmp_path: Path) -> None:
    assert resolve_model(None).name == DEFAULT_MODEL
    assert resolve_model("Qwen2.5-Coder-1.5B").catalogued is QWEN_CODER_15B
    chosen = resolve_model(str(tmp_path / "mine.gguf"))
    assert chosen.catalogued is None
    assert chosen.file == tmp_path / "mine.gguf" and chosen.name == "mine"
    with pytest.raises(ConfigError, match=r"qwen2\.5-coder-0\.5b, qwen2\.5-coder-1\.5b"):
        resolve_model("llama-70b")


def test_profiles_and_the_environment_name_the_model(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text('[local]\nmodel = "qwen2.5-coder-1.5b"\n')
    assert load_settings(profile, environ={}).profile.local.model == "qwen2.5-coder-1.5b"
    env = {"VA_LOCAL_MODEL": "qwen2.5-coder-0.5b"}
    assert load_settings(profile, environ=env).profile.local.model == "qwen2.5-coder-0.5b"
    with pytest.raises(ConfigError, match=r"local\.model.*unknown local model 'gpt-9'"):
        load_settings(profile, {"local.model": "gpt-9"})


def test_the_store_is_shared_not_per_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VA_MODELS_DIR")
    assert "VA_HOME" in os.environ
    assert not models_dir().is_relative_to(Path(os.environ["VA_HOME"]))
    assert models_dir().parts[-2:] == ("va", "models")


def test_chunks_are_joined_once_verified_and_reused(chunk_packages: ChunkedModel) -> None:
    reports: list[tuple[int, int]] = []
    path = assemble(chunk_packages, lambda done, total: reports.append((done, total)))
    assert path.read_bytes() == b"".join(CHUNKS)
    assert reports[-1] == (chunk_packages.size, chunk_packages.size)
    assert is_assembled(chunk_packages)
    reports.clear()
    assert assemble(chunk_packages, lambda done, total: reports.append((done, total))) == path
    assert reports == []  # the second run trusts the verified file


def test_a_file_changed_after_assembly_is_assembled_again(chunk_packages: ChunkedModel) -> None:
    path = assemble(chunk_packages)
    path.write_bytes(b"x" * chunk_packages.size)  # same size, other bytes (and time)
    os.utime(path, ns=(1, 1))
    assert not is_assembled(chunk_packages)
    assert assemble(chunk_packages).read_bytes() == b"".join(CHUNKS)


def test_a_verified_file_without_its_record_is_kept(chunk_packages: ChunkedModel) -> None:
    path = assemble(chunk_packages)
    path.with_name(path.name + ".verified").unlink()
    reports: list[int] = []
    assert assemble(chunk_packages, lambda done, total: reports.append(done)) == path
    assert reports == [] and is_assembled(chunk_packages)


def test_damaged_chunks_leave_nothing_behind(chunk_packages: ChunkedModel) -> None:
    damaged = ChunkedModel("bad.gguf", chunk_packages.modules, chunk_packages.size, "0" * 64, "")
    with pytest.raises(ModelUnavailable, match="checksum mismatch"):
        assemble(damaged)
    assert [p.name for p in models_dir().iterdir() if not p.name.endswith(".lock")] == []


def test_two_processes_assembling_at_once_join_the_chunks_once(
    chunk_packages: ChunkedModel, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        """
        import json, sys, time
        from voice_agent_cli.llm.model_files import ChunkedModel, assemble
        model = ChunkedModel(**json.loads(sys.argv[1]))
        joined = []
        def slow(done, total):
            joined.append(done)
            time.sleep(0.3)  # hold the lock long enough for the other process to wait
        path = assemble(model, slow)
        print(json.dumps({"path": str(path), "joined": bool(joined)}))
        """
    )
    spec = json.dumps(
        {
            "filename": chunk_packages.filename,
            "modules": list(chunk_packages.modules),
            "size": chunk_packages.size,
            "sha256": chunk_packages.sha256,
            "licence_note": "",
        }
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), *sys.path])}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, spec], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    assert outputs[0]["path"] == outputs[1]["path"]
    assert sorted(o["joined"] for o in outputs) == [False, True]
    assert Path(outputs[0]["path"]).read_bytes() == b"".join(CHUNKS)


def test_a_terminal_shows_a_progress_bar_while_a_model_is_joined() -> None:
    import io

    from rich.console import Console

    from voice_agent_cli.cli.common import _AssemblyBar

    class Spinner:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def stop(self) -> None:
            self.calls.append("stop")

        def start(self) -> None:
            self.calls.append("start")

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    spinner = Spinner()
    bar = _AssemblyBar(console, spinner)
    for done in (100_000_000, 600_000_000, 1_117_320_768):
        bar.update(done, 1_117_320_768)
    assert spinner.calls == ["stop", "start"]  # the spinner gives way, then comes back
    shown = screen.getvalue()
    assert "Assembling the model (once per machine)" in shown
    assert "1.1/1.1 GB" in shown
