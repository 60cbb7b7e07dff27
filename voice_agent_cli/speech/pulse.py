"""PulseAudio (or PipeWire's pulse server) as PortAudio cannot see it.

PortAudio reaches PulseAudio through ALSA's pulse plugin as a single device,
``pulse`` (and ``default``): the microphones and speakers behind it are
invisible, and when one is unplugged the server quietly moves va's stream to
another source, perhaps a speaker's monitor. Through libpulse (``pulsectl``)
this module

- lists the server's sources and sinks (:func:`pulse_devices`), so
  ``--input-device "Headset"`` can name one; va opens PortAudio's ``pulse``
  device with ``PULSE_SOURCE``/``PULSE_SINK`` set (:func:`routed_to`), which
  libpulse reads when the ALSA plugin connects;
- follows va's own capture stream (:class:`CaptureWatch`): when its
  microphone goes away it says so and mutes what the server substituted (a
  monitor would make va hear itself), and when the microphone is back it moves
  the stream home and says va listens again.

Everything here is optional: without libpulse or a server, va works with
PortAudio's devices alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

logger = logging.getLogger("va.audio")

Kind = Literal["input", "output"]
Notify = Callable[[str, str], None]

#: libpulse's "no index" (a source that is not a monitor has this monitor_of_sink).
_NO_INDEX = 0xFFFFFFFF


@dataclass(frozen=True)
class PulseDevice:
    """A PulseAudio source (microphone) or sink (speaker)."""

    name: str
    description: str
    kind: Kind
    monitor: bool = False


def _client(name: str = "va") -> Any:
    """A connected pulsectl client, or None without libpulse or a server."""
    try:
        import pulsectl
    except (ImportError, OSError):  # OSError: libpulse.so.0 is not installed
        return None
    try:
        pulse = pulsectl.Pulse(name, connect=False)
        pulse.connect(autospawn=False, wait=False, timeout=2.0)
    except Exception:  # pulsectl raises its own errors, and OSError for a dead socket
        return None
    return pulse


def pulse_devices(kind: Kind) -> list[PulseDevice]:
    """The server's sources (``input``) or sinks (``output``); empty without a server."""
    pulse = _client("va-devices")
    if pulse is None:
        return []
    try:
        if kind == "input":
            return [
                PulseDevice(s.name, s.description, kind, s.monitor_of_sink != _NO_INDEX)
                for s in pulse.source_list()
            ]
        return [PulseDevice(s.name, s.description, kind) for s in pulse.sink_list()]
    except Exception:
        return []
    finally:
        pulse.close()


def find_pulse_device(spec: str, kind: Kind) -> PulseDevice | None:
    """The source or sink whose name or description contains ``spec`` (microphones first)."""
    wanted = spec.lower()
    matches = [
        device
        for device in pulse_devices(kind)
        if wanted in device.name.lower() or wanted in device.description.lower()
    ]
    matches.sort(key=lambda d: d.monitor)  # a real microphone before a monitor of a speaker
    return matches[0] if matches else None


_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def routed_to(device: PulseDevice | None) -> Iterator[None]:
    """While PortAudio opens its ``pulse`` device, make libpulse connect to ``device``."""
    if device is None:
        yield
        return
    variable = "PULSE_SOURCE" if device.kind == "input" else "PULSE_SINK"
    with _ENV_LOCK:
        before = os.environ.get(variable)
        os.environ[variable] = device.name
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = before


class CaptureWatch:
    """Follows this process's capture stream on the PulseAudio server, from a thread.

    ``muted`` is True while the stream sits on a stand-in the server chose for
    a microphone that went away and that stand-in is a monitor (va would hear
    its own voice); ``notify`` receives what to tell the user, from the watch's
    thread (marshal it onto the event loop).
    """

    def __init__(
        self, notify: Notify, *, expected: str | None = None, interval_s: float = 0.5
    ) -> None:
        self.notify = notify
        self.interval_s = interval_s
        self.muted = False
        self.lost = False
        #: The source va should be on: the one it was routed to, else where it started.
        self.expected = expected
        self._descriptions: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def start_if_available(
        cls, notify: Notify, *, expected: str | None = None
    ) -> CaptureWatch | None:
        """A running watch when a PulseAudio server is there, else None."""
        pulse = _client("va-probe")
        if pulse is None:
            return None
        watch = cls(notify, expected=expected)
        try:
            watch.check(pulse)  # learn where the stream is before anything changes
        except Exception:
            logger.debug("capture watch: first look failed", exc_info=True)
        finally:
            pulse.close()
        watch._thread = threading.Thread(target=watch._run, name="va-capture-watch", daemon=True)
        watch._thread.start()
        return watch

    def stop(self) -> None:
        """Stop watching (joins the thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        pulse = None
        while not self._stop.wait(self.interval_s):
            if pulse is None:
                pulse = _client("va-watch")
                if pulse is None:
                    continue  # the server is away: PortAudio's side notices that
            try:
                self.check(pulse)
            except Exception:
                logger.debug("capture watch: the pulse server went away", exc_info=True)
                with contextlib.suppress(Exception):
                    pulse.close()
                pulse = None
        if pulse is not None:
            pulse.close()

    def check(self, pulse: Any) -> None:
        """One look at where our capture stream is; tell the user what changed."""
        pid = str(os.getpid())
        ours = [
            o for o in pulse.source_output_list() if o.proplist.get("application.process.id") == pid
        ]
        if not ours:
            return  # between a close and a reopen
        stream = ours[-1]
        sources = {s.index: s for s in pulse.source_list()}
        by_name = {s.name: s for s in sources.values()}
        current = sources.get(stream.source)
        for source in sources.values():
            self._descriptions[source.name] = source.description
        if current is None:
            return
        current_is_monitor = current.monitor_of_sink != _NO_INDEX
        if self.expected is None:
            self.expected = current.name
            return
        home = by_name.get(self.expected)
        if home is None:
            self.muted = current_is_monitor
            if not self.lost:
                self.lost = True
                self.notify(self._lost_text(current, current_is_monitor), "warning")
            return
        if self.lost:
            if current.name != home.name:
                pulse.source_output_move(stream.index, home.index)
            self.lost = False
            self.muted = False
            self.notify(f"the microphone {home.description!r} is back: listening again", "info")
        elif current.name != home.name and not current_is_monitor:
            self.expected = current.name  # moved on purpose (pavucontrol): follow it

    def _lost_text(self, stand_in: Any, is_monitor: bool) -> str:
        gone = self._descriptions.get(self.expected or "", self.expected)
        if is_monitor:
            return f"the microphone {gone!r} is gone: not listening until it is back"
        return (
            f"the microphone {gone!r} is gone: listening on {stand_in.description!r} "
            "until it is back"
        )
