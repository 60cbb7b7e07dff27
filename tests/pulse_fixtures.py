"""The real sound stack for tests: a private PulseAudio daemon, and ``va talk`` run on it.

``virtual_audio`` (session) starts the daemon of
:mod:`voice_agent_cli.speech.virtual_devices` once and stops it by its PID at
the end; ``laptop`` hands each test the same devices in a known state (no
echo, the microphone plugged in). Where PulseAudio cannot start, the tests
that need it are skipped with the reason, except in CI (``CI`` set), where
``make install`` has installed it and a skip would hide a broken setup.

:class:`TalkProcess` runs the installed ``va talk`` the way a user does, on
those devices, and collects what it prints.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import VA
from tests.environment import missing
from voice_agent_cli.speech.virtual_devices import (
    VirtualAudio,
    VirtualAudioUnavailable,
    start_virtual_audio,
)


@pytest.fixture(scope="session")
def virtual_audio() -> Iterator[VirtualAudio]:
    """One private PulseAudio daemon with a speaker and a microphone, for the session."""
    try:
        audio = start_virtual_audio()
    except VirtualAudioUnavailable as exc:
        missing(f"needs PulseAudio's virtual devices: {exc}")
    try:
        yield audio
    finally:
        audio.stop()


@pytest.fixture
def laptop(virtual_audio: VirtualAudio) -> VirtualAudio:
    """The virtual devices as a fresh laptop: microphone plugged in, no echo."""
    virtual_audio.set_echo(False)
    if virtual_audio.mic not in virtual_audio.modules:
        virtual_audio.restore_microphone()
    return virtual_audio


class TalkProcess:
    """``va talk ARGS`` in a subprocess on the virtual devices; its output as it comes."""

    def __init__(self, audio: VirtualAudio, *args: str, env: dict[str, str]) -> None:
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            [VA, "talk", *args],
            env={**os.environ, **audio.environment(), **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr)),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._changed:
                lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(
        self, predicate: Callable[[list[str], list[str]], bool], what: str, timeout: float = 90
    ) -> None:
        """Wait until ``predicate(stdout, stderr)`` holds (fails with the output so far)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.stdout, self.stderr):
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reading()):
                    pytest.fail(f"va talk: no {what} within {timeout:.0f} s\n{self.transcript()}")
                self._changed.wait(min(left, 0.5))

    def wait_until_listening(self, timeout: float = 120) -> None:
        """Models loaded, microphone open: the user may speak."""
        # The microphone listens at once; the models load meanwhile and say when ready.
        ready = "models ready"
        self.wait_for(lambda out, err: any(ready in line for line in err), "start", timeout)

    def wait_until_quiet(self, word: str, quiet_s: float, timeout: float = 60) -> None:
        """Wait until no new stderr line mentioning ``word`` came for ``quiet_s`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            count = sum(word in line for line in self.stderr)
            settled_at = time.monotonic() + quiet_s
            while time.monotonic() < settled_at:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"va talk: {word} notices went on for {timeout:.0f} s\n{self.transcript()}"
                    )
                self._changed.wait(max(0.05, settled_at - time.monotonic()))
                now = sum(word in line for line in self.stderr)
                if now != count:
                    count, settled_at = now, time.monotonic() + quiet_s

    def replies(self) -> list[str]:
        """The agent's replies so far (``va: ...`` lines on stdout)."""
        return [line[4:] for line in self.stdout if line.startswith("va: ")]

    def transcript(self) -> str:
        """Everything printed so far, for failure messages."""
        return "stdout:\n" + "\n".join(self.stdout) + "\nstderr:\n" + "\n".join(self.stderr)

    def stop(self) -> int:
        """Ctrl-C, as a user would; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code

    def _reading(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)


def write_profile(folder: Path, *, long_reply: str) -> Path:
    """A profile for the device tests: Gemini (the local fake) and one long pre-buffered reply."""
    path = folder / "devices.toml"
    path.write_text(
        'description = "device tests"\n'
        "[llm]\n"
        'provider = "gemini"\n'
        "[cache]\n"
        "enabled = false\n"
        "[[buffer.responses]]\n"
        'pattern = "(please )?tell me (a|the) long story"\n'
        f'reply = "{long_reply}"\n'
    )
    return path
