"""A local OpenAI-compatible fake, a real llama.cpp server, and OpenAILLMs pointed at them."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.gemini_fixtures import _no_sleep, no_proxy_for_local_servers
from tests.redis_server import free_port
from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.llm.openai import OpenAILLM
from voice_agent_cli.resilience import RetryPolicy
from voice_agent_cli.testing.fake_openai import FakeOpenAI

TEST_KEY = "sk-test-key-that-must-never-be-printed-0123456789"
#: The alias the llama.cpp server serves the embedded model under.
LLAMA_MODEL = "qwen2.5-coder-0.5b"
#: Small, so that a long-context error is cheap to provoke.
LLAMA_N_CTX = 1024


@pytest.fixture(scope="session")
def openai_server() -> Iterator[FakeOpenAI]:
    """One fake server for the session; each test gets it with an empty script."""
    with FakeOpenAI(api_key=TEST_KEY) as server:
        yield server


@pytest.fixture
def fake_openai(openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    openai_server.clear()
    no_proxy_for_local_servers(monkeypatch)
    return openai_server


@pytest.fixture
def openai_env(fake_openai: FakeOpenAI) -> dict[str, str]:
    """Environment for a ``va`` run on the fake server, without failover."""
    return {
        "VA_LLM": "openai",
        "OPENAI_API_KEY": TEST_KEY,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "VA_OPENAI__MODEL": "fake-model",
        "NO_PROXY": "127.0.0.1,localhost",
        "VA_RESILIENCE__FALLBACK": "[]",
    }


@pytest.fixture
async def openai_llm(fake_openai: FakeOpenAI) -> AsyncIterator[OpenAILLM]:
    llm = OpenAILLM(
        model="fake-model",
        api_key=Secret(TEST_KEY, "OPENAI_API_KEY"),
        base_url=fake_openai.base_url,
        timeout_s=2.0,
        retry=RetryPolicy(max_retries=2, sleep=_no_sleep),
    )
    yield llm
    await llm.aclose()


class LlamaCppServer:
    """``python -m llama_cpp.server`` with the embedded GGUF, on a free local port.

    ``--logits_all False`` (its default here is True: prompts then evaluate
    about 5x slower on 2 cores), no mlock (it makes start-up take ~20 s), and
    ``--interrupt_requests False`` so that a request never cuts another's stream.
    """

    def __init__(self, model: Path, log: Path, *, n_ctx: int = LLAMA_N_CTX) -> None:
        self.model = model
        self.log = log
        self.n_ctx = n_ctx
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model), "--model_alias", LLAMA_MODEL,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--n_threads", "2",
            "--logits_all", "False", "--use_mlock", "False", "--verbose", "False",
            "--interrupt_requests", "False",
        ]  # fmt: skip

    def start(self, timeout_s: float = 120) -> None:
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited at start: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"llama_cpp.server did not answer within {timeout_s:g} s")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._process = None


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    """One real llama.cpp OpenAI-compatible server for the whole session."""
    from tests.conftest import shared_models_dir
    from voice_agent_cli.llm.catalogue import QWEN_CODER_05B

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VA_MODELS_DIR", str(shared_models_dir()))
        model = QWEN_CODER_05B.path()
    server = LlamaCppServer(model, tmp_path_factory.mktemp("llama-server") / "server.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def llama(llama_server: LlamaCppServer, monkeypatch: pytest.MonkeyPatch) -> LlamaCppServer:
    """The session's llama.cpp server, reachable from this test."""
    no_proxy_for_local_servers(monkeypatch)
    return llama_server
