"""A virtual laptop for headless boxes: a private PulseAudio daemon with a speaker and a mic.

The tests and ``va bench voice --device`` run ``va`` through the real sound
stack (PortAudio -> ALSA's pulse plugin -> PulseAudio) without a sound card::

    paplay --device=va_mic_wire question.wav        the user speaks
        │
        ▼
    va_mic_wire (null sink) ─monitor─► va_mic (remapped source) ─► va talk's microphone
                                          ▲
                      echo loopback (off  │ unless set_echo(True): a laptop without headphones)
                                          │
    va talk's speaker ─► va_speaker (null sink) ─monitor─► parec: what va said

:func:`start_virtual_audio` starts ``pulseaudio`` with a socket in a private
folder (no session bus, no user config, nothing written to ``$HOME``), loads
the devices with ``pactl`` and returns a :class:`VirtualAudio`; its
:meth:`~VirtualAudio.stop` ends that daemon by its PID and removes the folder.
A process reaches the daemon through :meth:`~VirtualAudio.environment`
(``PULSE_SERVER`` and ``PULSE_COOKIE``): ALSA's pulse plugin then makes it the
``default`` and ``pulse`` devices PortAudio lists, with no change to the
machine's ALSA configuration. docs/voice.md shows the same setup by hand.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from voice_agent_cli.errors import DependencyUnavailable

#: The programs the setup needs (Debian: pulseaudio, pulseaudio-utils).
PROGRAMS = ("pulseaudio", "pactl", "paplay", "parec")

#: Sample rate of the virtual devices (the rate of most laptop codecs).
RATE = 48000


class VirtualAudioUnavailable(DependencyUnavailable):
    """The virtual devices cannot be set up here (no pulseaudio, or it would not start)."""


def missing_programs() -> list[str]:
    """The programs of :data:`PROGRAMS` not found on ``PATH``."""
    return [program for program in PROGRAMS if shutil.which(program) is None]


@dataclass
class VirtualAudio:
    """A running private PulseAudio daemon and the virtual devices loaded into it."""

    folder: Path
    pid: int
    speaker: str = "va_speaker"
    mic_wire: str = "va_mic_wire"
    mic: str = "va_mic"
    #: Module indexes by role ("mic", "echo", extra devices...), for unloading.
    modules: dict[str, int] = field(default_factory=dict)

    @property
    def socket(self) -> Path:
        """The daemon's native-protocol socket."""
        return self.folder / "pulse" / "native"

    def environment(self) -> dict[str, str]:
        """Environment variables that point libpulse (and so ALSA and PortAudio) here."""
        return {
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_COOKIE": str(self.folder / "cookie"),
        }

    def pactl(self, *args: str) -> str:
        """Run ``pactl ARGS`` against this daemon; its output."""
        done = subprocess.run(
            ["pactl", *args],
            env={**os.environ, **self.environment()},
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        if done.returncode != 0:
            raise VirtualAudioUnavailable(
                f"pactl {' '.join(args)} failed: {done.stderr.strip() or done.returncode}"
            )
        return done.stdout.strip()

    def load(self, role: str, module: str, *arguments: str) -> int:
        """Load a PulseAudio module under ``role``; its index."""
        index = int(self.pactl("load-module", module, *arguments))
        self.modules[role] = index
        return index

    def unload(self, role: str) -> None:
        """Unload the module loaded under ``role`` (nothing if there is none)."""
        index = self.modules.pop(role, None)
        if index is not None:
            self.pactl("unload-module", str(index))

    # -- the devices ---------------------------------------------------------------

    def add_microphone(self, name: str, description: str) -> None:
        """A microphone ``name``: a source fed by whatever plays into ``name + '_wire'``."""
        self.load(f"{name}_wire", "module-null-sink", *_sink_arguments(f"{name}_wire", description))
        self.load(
            name,
            "module-remap-source",
            f"source_name={name}",
            f"master={name}_wire.monitor",
            f"source_properties={_description(description)}",
        )

    def add_speaker(self, name: str, description: str) -> None:
        """A speaker ``name``: a sink whose monitor records what is played on it."""
        self.load(name, "module-null-sink", *_sink_arguments(name, description))

    def remove_microphone(self) -> None:
        """Unplug the microphone (its source disappears; its wire stays)."""
        self.unload(self.mic)

    def restore_microphone(self) -> None:
        """Plug the microphone back in, as the default source again."""
        self.load(
            self.mic,
            "module-remap-source",
            f"source_name={self.mic}",
            f"master={self.mic_wire}.monitor",
            "source_properties=device.description=Microphone",
        )
        self.pactl("set-default-source", self.mic)

    def set_echo(self, on: bool, *, latency_ms: int = 30) -> None:
        """Play the speaker back into the microphone, as a laptop without headphones does."""
        self.unload("echo")
        if on:
            self.load(
                "echo",
                "module-loopback",
                f"source={self.speaker}.monitor",
                f"sink={self.mic_wire}",
                f"latency_msec={latency_ms}",
                # Stay on these devices even when the microphone is unplugged and back.
                "source_dont_move=true",
                "sink_dont_move=true",
            )

    def add_observer(self, *, latency_ms: int = 30) -> str:
        """A sink that hears both sides, user and agent, on one clock; its monitor's name.

        Two loopbacks with the same latency copy the microphone's wire and the
        speaker into it, so one recording of it times the agent's answer
        against the end of the question (``va bench voice --device``).
        """
        if "observer" not in self.modules:
            self.load("observer", "module-null-sink", *_sink_arguments("va_observer", "Observer"))
            for role, source in (("observe_mic", self.mic_wire), ("observe_speaker", self.speaker)):
                self.load(
                    role,
                    "module-loopback",
                    f"source={source}.monitor",
                    "sink=va_observer",
                    f"latency_msec={latency_ms}",
                    "source_dont_move=true",
                    "sink_dont_move=true",
                )
        return "va_observer.monitor"

    # -- speaking and listening ---------------------------------------------------------

    def play(self, wav: Path, *, into: str | None = None) -> subprocess.Popen[bytes]:
        """Start playing a WAV file into a microphone's wire (the user speaks)."""
        return subprocess.Popen(
            ["paplay", f"--device={into or self.mic_wire}", str(wav)],
            env={**os.environ, **self.environment()},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def say(self, wav: Path, *, into: str | None = None, timeout: float = 60) -> None:
        """Play a WAV file into a microphone's wire and wait until it has been played."""
        player = self.play(wav, into=into)
        try:
            player.wait(timeout=timeout)
        finally:
            _end(player)

    @contextlib.contextmanager
    def recording(self, wav: Path, *, source: str | None = None) -> Iterator[Path]:
        """Record ``source`` (default: the speaker's monitor) into ``wav`` while in the block."""
        recorder = subprocess.Popen(
            [
                "parec",
                f"--device={source or self.speaker + '.monitor'}",
                "--file-format=wav",
                f"--rate={RATE}",
                "--channels=1",
                str(wav),
            ],
            env={**os.environ, **self.environment()},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Started from a script's background job, va runs with SIGINT ignored, and
            # parec would inherit that and never hear the SIGINT that ends it below.
            preexec_fn=_default_sigint,
        )
        try:
            yield wav
        finally:
            # SIGINT lets parec finish the WAV header.
            with contextlib.suppress(ProcessLookupError):
                recorder.send_signal(signal.SIGINT)
            _end(recorder)

    # -- the daemon ----------------------------------------------------------------------

    def running(self) -> bool:
        """True while the daemon's process exists."""
        return _alive(self.pid)

    def stop(self) -> None:
        """End the daemon (by its PID) and remove its folder."""
        if _alive(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while _alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_virtual_audio(folder: Path | None = None, *, echo: bool = False) -> VirtualAudio:
    """Start a private PulseAudio daemon with a speaker, a microphone and (maybe) echo.

    Raises :class:`VirtualAudioUnavailable` with the reason when it cannot.
    """
    missing = missing_programs()
    if missing:
        raise VirtualAudioUnavailable(
            f"the virtual sound devices need {', '.join(missing)} "
            "(Debian/Ubuntu: apt-get install pulseaudio pulseaudio-utils libasound2-plugins; "
            "make install does it)"
        )
    # A short path: the socket's path must fit in sockaddr_un (108 bytes).
    folder = Path(tempfile.mkdtemp(prefix="va-pulse-", dir=folder))
    folder.chmod(0o700)
    log = folder / "pulseaudio.log"
    environment = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(folder),
        # The daemon keeps its cookie and state here, never in the user's home.
        "HOME": str(folder),
        "PULSE_STATE_PATH": str(folder / "state"),
        "PULSE_COOKIE": str(folder / "cookie"),
    }
    environment.pop("PULSE_SERVER", None)
    for variable in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY"):
        environment.pop(variable, None)
    started = subprocess.run(
        [
            "pulseaudio",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "--system=false",
            "--use-pid-file=yes",
            "--realtime=no",
            "--high-priority=no",
            "-n",  # no default.pa: only the modules loaded below
            f"--load=module-native-protocol-unix socket={folder / 'pulse' / 'native'} "
            "auth-anonymous=1",
            f"--log-target=file:{log}",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    pid = _read_pid(folder / "pulse" / "pid")
    if started.returncode != 0 or pid is None:
        reason = _last_line(log) or started.stderr.strip() or f"exit code {started.returncode}"
        if pid is not None:
            VirtualAudio(folder, pid).stop()
        else:
            shutil.rmtree(folder, ignore_errors=True)
        raise VirtualAudioUnavailable(f"pulseaudio would not start: {reason}")
    audio = VirtualAudio(folder, pid)
    try:
        audio.add_speaker(audio.speaker, "Speaker")
        audio.load(
            audio.mic_wire, "module-null-sink", *_sink_arguments(audio.mic_wire, "Microphone wire")
        )
        audio.restore_microphone()
        audio.pactl("set-default-sink", audio.speaker)
        audio.set_echo(echo)
    except Exception:
        audio.stop()
        raise
    return audio


def _sink_arguments(name: str, description: str) -> tuple[str, ...]:
    return (
        f"sink_name={name}",
        f"rate={RATE}",
        "channels=1",
        f"sink_properties={_description(description)}",
    )


def _description(text: str) -> str:
    # A property list inside a module argument: both levels quoted, for spaces.
    return f"\"device.description='{text}'\""


def _read_pid(path: Path) -> int | None:
    for _ in range(100):  # the daemonised process writes it a moment after forking
        with contextlib.suppress(OSError, ValueError):
            return int(path.read_text().strip())
        time.sleep(0.05)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited: only its parent (init, for a daemon) still has to reap it.
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    return True


def _default_sigint() -> None:
    """In a child before it runs: SIGINT back to its default (it may have been ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _end(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line for line in path.read_text().splitlines() if line.startswith("E:")]
        return lines[-1] if lines else ""
    return ""
